package bootable

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
)

type sfdiskDoc struct {
	PartitionTable struct {
		Label      string `json:"label"`
		SectorSize int64  `json:"sectorsize"`
		Partitions []struct {
			Start    int64  `json:"start"`
			Size     int64  `json:"size"`
			Type     string `json:"type"`
			Bootable bool   `json:"bootable"`
			Name     string `json:"name"`
			Attrs    string `json:"attrs"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

func readTable(t *testing.T, path string) sfdiskDoc {
	t.Helper()
	out, err := exec.Command("sfdisk", "--json", path).Output()
	if err != nil {
		t.Fatalf("sfdisk --json %s: %v", path, err)
	}
	var d sfdiskDoc
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// writeLayout writes l's table to a sparse file of l.Size and reads it back with sfdisk.
func writeLayout(t *testing.T, l *layout) (sfdiskDoc, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "disk.raw")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(l.Size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := l.writeTable(path); err != nil {
		t.Fatal(err)
	}
	return readTable(t, path), path
}

func TestLayoutBIOS(t *testing.T) {
	// A Eucalyptus-style bare root of 700 MiB + 1 byte, grown by 300 MiB, and a swap.
	l, err := planLayout(FirmwareBIOS, []srcFS{{Size: 700*mib + 1, FSType: "ext4", Root: true}, {Size: 64 * mib, FSType: "swap"}}, 300*mib)
	if err != nil {
		t.Fatal(err)
	}
	d, path := writeLayout(t, l)
	pt := d.PartitionTable
	if pt.Label != "dos" || len(pt.Partitions) != 2 {
		t.Fatalf("table %+v", pt)
	}
	p1, p2 := pt.Partitions[0], pt.Partitions[1]
	if p1.Start != 2048 || p1.Size*512 != 1001*mib || !p1.Bootable || p1.Type != "83" {
		t.Errorf("root partition %+v: want start 2048, 1001 MiB, bootable, type 83", p1)
	}
	if p2.Start*512 != mib+1001*mib || p2.Size*512 != 64*mib || p2.Type != "82" {
		t.Errorf("swap partition %+v", p2)
	}
	fi, _ := os.Stat(path)
	if fi.Size() != (1+1001+64+1)*mib {
		t.Errorf("disk size %d", fi.Size())
	}
	if out, err := exec.Command("qemu-img", "info", "--output=json", "-f", "raw", path).CombinedOutput(); err != nil || !strings.Contains(string(out), `"virtual-size": 1118830592`) {
		t.Errorf("qemu-img info: %v %s", err, out)
	}
	// The chroot engine, which builds on the same tables, reads it the same way.
	table, parts, err := chroot.ReadPartitions(path)
	if err != nil || table != "dos" || len(parts) != 2 || parts[0].Start != mib {
		t.Errorf("chroot.ReadPartitions: %s %v %v", table, parts, err)
	}
}

func TestLayoutEFIAndBoth(t *testing.T) {
	for _, fw := range []string{FirmwareEFI, FirmwareBoth} {
		l, err := planLayout(fw, []srcFS{{Size: 256 * mib, FSType: "ext4"}, {Size: 900 * mib, FSType: "xfs", Root: true}}, 0)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := writeLayout(t, l)
		pt := d.PartitionTable
		if pt.Label != "gpt" || len(pt.Partitions) != 3 {
			t.Fatalf("%s: table %+v", fw, pt)
		}
		esp, boot, root := pt.Partitions[0], pt.Partitions[1], pt.Partitions[2]
		if esp.Type != gptESP || esp.Start != 2048 || esp.Size*512 != espSize {
			t.Errorf("%s: ESP %+v", fw, esp)
		}
		if boot.Type != gptLinux || boot.Start*512 != mib+espSize {
			t.Errorf("%s: /boot partition %+v", fw, boot)
		}
		if root.Type != gptRoot || root.Size*512 != 900*mib {
			t.Errorf("%s: root %+v", fw, root)
		}
		if legacy := strings.Contains(root.Attrs, "LegacyBIOSBootable"); legacy != (fw == FirmwareBoth) {
			t.Errorf("%s: root attrs %q", fw, root.Attrs)
		}
		if l.Size != (1+64+256+900+1)*mib {
			t.Errorf("%s: size %d", fw, l.Size)
		}
	}
}

func TestLayoutErrors(t *testing.T) {
	five := make([]srcFS, 5)
	for i := range five {
		five[i] = srcFS{Size: mib, FSType: "ext4", Root: i == 0}
	}
	if _, err := planLayout(FirmwareBIOS, five, 0); err == nil || !strings.Contains(err.Error(), "4 primary") {
		t.Errorf("5 filesystems on MBR: %v", err)
	}
	if _, err := planLayout(FirmwareEFI, five, 0); err != nil {
		t.Errorf("5 filesystems on GPT: %v", err)
	}
	if _, err := planLayout(FirmwareBIOS, []srcFS{{Size: mib, FSType: "ext4"}}, 0); err == nil {
		t.Error("no root: no error")
	}
	if _, err := planLayout("uefi", []srcFS{{Size: mib, FSType: "ext4", Root: true}}, 0); err == nil || !strings.Contains(err.Error(), "firmware") {
		t.Errorf("bad firmware: %v", err)
	}
}

func TestKernelVersion(t *testing.T) {
	dir := t.TempDir()
	img := make([]byte, 0x1000)
	copy(img[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(img[0x20e:], 0x300)
	copy(img[0x500:], "6.1.0-50-amd64 (debian-kernel@lists.debian.org) #1 SMP\x00")
	p := filepath.Join(dir, "vmlinuz")
	os.WriteFile(p, img, 0o644)
	if v, err := KernelVersion(p); err != nil || v != "6.1.0-50-amd64" {
		t.Errorf("KernelVersion = %q, %v", v, err)
	}
	elf := filepath.Join(dir, "vmlinux")
	os.WriteFile(elf, append([]byte("\x7fELF"), make([]byte, 0x400)...), 0o644)
	if _, err := KernelVersion(elf); err == nil || !strings.Contains(err.Error(), "bzImage") {
		t.Errorf("ELF kernel: %v", err)
	}
	// The real kernel of the host, when there is one.
	if ks, _ := filepath.Glob("/boot/vmlinuz-*"); len(ks) > 0 {
		want := strings.TrimPrefix(filepath.Base(ks[0]), "vmlinuz-")
		if v, err := KernelVersion(ks[0]); err != nil || v != want {
			t.Errorf("KernelVersion(%s) = %q, %v; want %q", ks[0], v, err, want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "4096": 4096, "512M": 512 << 20, "2G": 2 << 30, "1GiB": 1 << 30, "1.5g": 3 << 29, "10k": 10240, "3MB": 3 << 20} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1G", "1Q", "G"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q): no error", in)
		}
	}
}

func TestRewriteFstab(t *testing.T) {
	old := &chroot.Disk{Table: "gpt", Partitions: []*chroot.Partition{
		{Number: 1, FSType: "vfat", UUID: "AAAA-BBBB"},
		{Number: 2, FSType: "ext4", UUID: "boot-uuid", PartUUID: "p2-partuuid"},
		{Number: 3, FSType: "ext4", UUID: "root-uuid", Label: "root"},
		{Number: 4, FSType: "swap", UUID: "swap-uuid"},
	}}
	uuids := map[*chroot.Partition]string{}
	for _, p := range old.Partitions[1:] {
		uuids[p] = p.UUID
	}
	in := "# comment\nLABEL=root / ext4 errors=remount-ro 0 1\nPARTUUID=p2-partuuid /boot ext4 defaults 0 2\n" +
		"UUID=AAAA-BBBB /boot/efi vfat umask=0077 0 1\n/dev/xvda4 none swap sw 0 0\nnfs:/x /mnt nfs defaults 0 0\n"
	got, changed := rewriteFstab(in, old, nil, uuids, "root-uuid", "")
	if !changed {
		t.Fatal("not changed")
	}
	want := "# comment\nUUID=root-uuid\t/\text4\terrors=remount-ro\t0\t1\nUUID=boot-uuid\t/boot\text4\tdefaults\t0\t2\n" +
		"# UUID=AAAA-BBBB /boot/efi vfat umask=0077 0 1 # no EFI system partition on this BIOS disk (chromogenic)\n" +
		"UUID=swap-uuid\tnone\tswap\tsw\t0\t0\nnfs:/x /mnt nfs defaults 0 0\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	got, _ = rewriteFstab(in, old, nil, uuids, "root-uuid", "1234-5678")
	if !strings.Contains(got, "UUID=1234-5678\t/boot/efi\tvfat") {
		t.Errorf("ESP entry not rewritten:\n%s", got)
	}
	// Eucalyptus: the bare filesystem was attached as sda1; the root gets its UUID.
	bare := &chroot.Disk{Partitions: []*chroot.Partition{{Number: 0, FSType: "ext4", UUID: "r"}}}
	got, _ = rewriteFstab("/dev/sda1 / ext4 defaults 0 1\n", bare, nil, map[*chroot.Partition]string{bare.Partitions[0]: "r"}, "r", "")
	if got != "UUID=r\t/\text4\tdefaults\t0\t1\n" {
		t.Errorf("bare: %q", got)
	}
}

// TestRewriteFstabOtherDisks: with the guest's other disks known, entries on them (a kernel
// name taken by disk order, a LABEL, a UUID) are named by their filesystem's UUID; entries on
// the boot disk are rewritten as with one disk; a network filesystem is kept.
func TestRewriteFstabOtherDisks(t *testing.T) {
	p1 := &chroot.Partition{Number: 1, FSType: "ext4", UUID: "root-uuid"}
	p2 := &chroot.Partition{Number: 2, FSType: "ext4", UUID: "home-uuid"}
	old := &chroot.Disk{Table: "dos", Partitions: []*chroot.Partition{p1, p2}}
	all := &chroot.Disk{Table: "dos", Partitions: []*chroot.Partition{
		{Number: 1, FSType: "ext4", UUID: "root-uuid"}, {Number: 2, FSType: "ext4", UUID: "home-uuid"},
	}, Others: []*chroot.Disk{
		{Table: "dos", Partitions: []*chroot.Partition{
			{Number: 1, FSType: "ext4", UUID: "srv-uuid", Label: "srv", Disk: 1},
			{Number: 2, FSType: "ext4", UUID: "data-uuid", Disk: 1},
		}},
		{Table: "dos", Partitions: []*chroot.Partition{{Number: 1, FSType: "xfs", UUID: "d3-uuid", Disk: 2}}},
	}}
	uuids := map[*chroot.Partition]string{p1: p1.UUID, p2: p2.UUID}
	in := "/dev/vda1 / ext4 defaults 0 1\n/dev/vda2 /home ext4 defaults 0 2\nLABEL=srv /srv ext4 defaults 0 2\n" +
		"/dev/vdb2 /var/lib/data ext4 defaults 0 2\nUUID=d3-uuid /mnt/d3 xfs defaults 0 0\n/dev/xvdc1 /mnt/x xfs nofail 0 0\nnfs:/x /mnt/n nfs defaults 0 0\n"
	want := "UUID=root-uuid\t/\text4\tdefaults\t0\t1\nUUID=home-uuid\t/home\text4\tdefaults\t0\t2\nUUID=srv-uuid\t/srv\text4\tdefaults\t0\t2\n" +
		"UUID=data-uuid\t/var/lib/data\text4\tdefaults\t0\t2\nUUID=d3-uuid /mnt/d3 xfs defaults 0 0\nUUID=d3-uuid\t/mnt/x\txfs\tnofail\t0\t0\nnfs:/x /mnt/n nfs defaults 0 0\n"
	got, changed := rewriteFstab(in, old, all, uuids, "root-uuid", "")
	if !changed || got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// Without the other disks, the entries on them are left as they are.
	got, _ = rewriteFstab("LABEL=srv /srv ext4 defaults 0 2\n", old, nil, uuids, "root-uuid", "")
	if got != "LABEL=srv /srv ext4 defaults 0 2\n" {
		t.Errorf("one disk: %q", got)
	}
}

// otherDisksView: nothing without other disks; a disk that cannot be opened is named.
func TestOtherDisksView(t *testing.T) {
	if v, err := otherDisksView(t.Context(), "/nonexistent/boot.raw", t.TempDir(), Options{}, t.Logf); v != nil || err != nil {
		t.Errorf("no other disks: %v %v", v, err)
	}
	_, err := otherDisksView(t.Context(), "/nonexistent/boot.raw", t.TempDir(), Options{SourceFormat: "raw", OtherDisks: []string{"/nonexistent/d2.raw"}}, t.Logf)
	if err == nil || !strings.Contains(err.Error(), "disk 2, /nonexistent/d2.raw") {
		t.Errorf("missing disk 2: %v", err)
	}
}

// TestFlattenRefusesLVOnOtherDisk: a volume group spanning disks (the root LV on the boot
// disk, data on disk 2): flatten is refused naming the mount point, the LV and its disk, and
// keep; an LV on the boot disk, a plain partition of disk 2 and a noauto entry are no reason.
func TestFlattenRefusesLVOnOtherDisk(t *testing.T) {
	root := &chroot.Partition{FSType: "ext4", UUID: "root-uuid", LV: "debian-vg/root"}
	data := &chroot.Partition{FSType: "ext4", UUID: "data-uuid", LV: "debian-vg/data", Disk: 1}
	all := &chroot.Disk{Table: "dos", Volumes: []*chroot.Partition{root, data}, Others: []*chroot.Disk{
		{Table: "dos", Partitions: []*chroot.Partition{{Number: 1, FSType: "ext4", UUID: "srv-uuid", Disk: 1}}},
	}}
	fstab := chroot.ParseFstab("/dev/mapper/debian--vg-root / ext4 defaults 0 1\nUUID=srv-uuid /srv ext4 defaults 0 2\n")
	if err := lvsOnOtherDisks(all, fstab); err != nil {
		t.Errorf("root LV and a partition of disk 2: %v", err)
	}
	if err := lvsOnOtherDisks(all, append(fstab, chroot.ParseFstab("/dev/debian-vg/data /data ext4 noauto 0 2\n")...)); err != nil {
		t.Errorf("a noauto LV of disk 2: %v", err)
	}
	if err := lvsOnOtherDisks(nil, chroot.ParseFstab("/dev/mapper/debian--vg-data /data ext4 defaults 0 2\n")); err != nil {
		t.Errorf("one disk: %v", err)
	}
	err := lvsOnOtherDisks(all, append(fstab, chroot.ParseFstab("/dev/mapper/debian--vg-data /var/lib/data ext4 defaults 0 2\n")...))
	if err == nil || !strings.Contains(err.Error(), "/var/lib/data from logical volume debian-vg/data on disk 2") ||
		!strings.Contains(err.Error(), `lvm = "keep"`) {
		t.Errorf("data LV on disk 2: %v", err)
	}
}
