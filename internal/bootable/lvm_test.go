//go:build linux

package bootable

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/lvm"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

// sourceLVs returns the logical volumes of the lvm-var image at path (as internal/chroot maps
// them; read-only, released again).
func sourceLVs(t *testing.T, path string) map[string]*chroot.Partition {
	t.Helper()
	img, err := chroot.OpenImage(path, chroot.ImageOptions{ReadOnly: true, LayoutOnly: true, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	m := map[string]*chroot.Partition{}
	for _, v := range img.Disk.Volumes {
		m[v.LV] = v
	}
	return m
}

// addBootMarker gives the lvm-var guest (a debootstrap tree, not the sample) the sample's
// boot marker unit, so testimages.BootWith sees the guest reach multi-user.target, and the
// sample's long device timeout for TCG.
func addBootMarker(t *testing.T, path string) {
	t.Helper()
	img, err := chroot.OpenImage(path, chroot.ImageOptions{TempDir: t.TempDir(), Guest: chroot.GuestOptions{FstabMounts: []string{}}})
	if err != nil {
		t.Fatal(err)
	}
	r := img.Guest.Guest()
	unit := "[Unit]\nAfter=multi-user.target systemd-user-sessions.service\n[Service]\nType=oneshot\n" +
		"ExecStart=/bin/sh -c 'echo CHROMOGENIC-BOOT-OK > /dev/ttyS0'\n[Install]\nWantedBy=multi-user.target\n"
	for _, err := range []error{
		r.WriteFile("/etc/systemd/system/chromogenic-marker.service", []byte(unit), 0o644),
		r.MkdirAll("/etc/systemd/system/multi-user.target.wants", 0o755),
		r.Symlink("/etc/systemd/system/chromogenic-marker.service", "/etc/systemd/system/multi-user.target.wants/chromogenic-marker.service"),
		r.MkdirAll("/etc/systemd/system.conf.d", 0o755),
		r.WriteFile("/etc/systemd/system.conf.d/chromogenic-tcg.conf", []byte("[Manager]\nDefaultDeviceTimeoutSec=15min\n"), 0o644),
	} {
		if err != nil {
			img.Close()
			t.Fatal(err)
		}
	}
	if err := img.Close(); err != nil {
		t.Fatal(err)
	}
}

// blkidAt reads the filesystem UUID and type at [off, off+size) of image through a fresh
// read-only loop.
func blkidAt(t *testing.T, image string, off, size int64) (uuid, fstype string) {
	t.Helper()
	loop, err := chroot.AttachLoop(image, off, size, true)
	if err != nil {
		t.Fatal(err)
	}
	defer loop.Detach()
	out, _ := exec.Command("blkid", "-p", "-o", "export", loop.Path).Output()
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "UUID="); ok {
			uuid = v
		}
		if v, ok := strings.CutPrefix(l, "TYPE="); ok {
			fstype = v
		}
	}
	return uuid, fstype
}

// fsckAt runs e2fsck -fn on [off, off+size) of image through a fresh read-only loop.
func fsckAt(t *testing.T, image string, off, size int64) {
	t.Helper()
	loop, err := chroot.AttachLoop(image, off, size, true)
	if err != nil {
		t.Fatal(err)
	}
	defer loop.Detach()
	if out, err := exec.Command("e2fsck", "-fn", loop.Path).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn of [%d, +%d): %v\n%s", off, size, err, out)
	}
}

// TestLVMFlattenBoot: the lvm-var guest (/boot a partition; / and /var LVs of VG chromo-vg;
// /home an LV of two segments apart, which cannot be mapped) becomes an MBR disk of three
// plain partitions: /boot (active: GRUB's configuration is there), root and var, each the LV's
// filesystem with its UUID kept and clean; the fstab names them by UUID and comments out
// /home, whose LV is not on the disk; the disk boots with SeaBIOS to multi-user.target (one
// TCG boot).
func TestLVMFlattenBoot(t *testing.T) {
	testtier.Acceptance(t, "a qemu boot")
	dir := t.TempDir()
	src := testimages.Make(t, "lvm-var", dir)
	addBootMarker(t, src)
	lvs := sourceLVs(t, src)
	root, varLV := lvs["chromo-vg/root"], lvs["chromo-vg/var"]
	if root == nil || varLV == nil {
		t.Fatalf("source LVs %v", lvs)
	}
	dst := filepath.Join(dir, "flat.raw")
	start := time.Now()
	res, err := Make(context.Background(), src, dst, Options{Firmware: FirmwareBIOS, Logf: func(f string, a ...any) { t.Logf(f, a...) }})
	if err != nil {
		t.Fatalf("Make: %v", err)
	}
	t.Logf("Make (flatten) took %s: %+v", time.Since(start).Round(time.Millisecond), res)
	checkReleased(t, dst)
	checkReleased(t, src)

	d := readTable(t, dst)
	ps := d.PartitionTable.Partitions
	if d.PartitionTable.Label != "dos" || len(ps) != 3 {
		t.Fatalf("table %+v, want dos with /boot, root, var", d.PartitionTable)
	}
	for i, p := range ps {
		if p.Type != "83" || p.Bootable != (i == 0) {
			t.Errorf("partition %d: type %s, bootable %v (want 83, only /boot active)", i+1, p.Type, p.Bootable)
		}
		fsckAt(t, dst, p.Start*512, p.Size*512)
	}
	for i, want := range []*chroot.Partition{root, varLV} {
		p := ps[i+1]
		if uuid, fstype := blkidAt(t, dst, p.Start*512, p.Size*512); uuid != want.UUID || fstype != "ext4" {
			t.Errorf("partition %d holds %s %s, want %s's ext4 %s", i+2, fstype, uuid, want.LV, want.UUID)
		}
	}
	if res.RootUUID != root.UUID || !strings.Contains(res.Cmdline, "root=UUID="+root.UUID) {
		t.Errorf("root %s, command line %q; want the root LV's UUID %s", res.RootUUID, res.Cmdline, root.UUID)
	}
	if out, err := exec.Command("sfdisk", "--verify", dst).CombinedOutput(); err != nil {
		t.Errorf("sfdisk --verify: %v\n%s", err, out)
	}

	files := packertest.GuestFiles(t, dst, "/etc/fstab", "/grub/grub.cfg")
	fstab := string(files["/etc/fstab"])
	for _, re := range []string{
		`(?m)^UUID=` + root.UUID + `\s+/\s+ext4`,
		`(?m)^UUID=` + varLV.UUID + `\s+/var\s+ext4`,
		`(?m)^# /dev/mapper/chromo--vg-home .*` + regexp.QuoteMeta(lvmLeftOutNote) + `$`,
	} {
		if !regexp.MustCompile(re).MatchString(fstab) {
			t.Errorf("fstab does not match %s:\n%s", re, fstab)
		}
	}
	if strings.Contains(regexp.MustCompile(`(?m)^#.*$`).ReplaceAllString(fstab, ""), "/dev/") {
		t.Errorf("fstab still names a device path:\n%s", fstab)
	}
	if conf := string(files["/grub/grub.cfg"]); !strings.Contains(conf, res.Cmdline) {
		t.Errorf("grub.cfg on the /boot partition:\n%s", conf)
	}
	// builder/local TestAccLocalLVM boots this shape through packer (flattened, in an OVA);
	// booting it here as well is for CHROMOGENIC_BOOT_ALL=1.
	if os.Getenv("CHROMOGENIC_BOOT_ALL") == "" {
		t.Log("boot skipped (builder/local TestAccLocalLVM boots the flattened guest); CHROMOGENIC_BOOT_ALL=1 runs it")
		return
	}
	bootStart := time.Now()
	testimages.BootWith(t, dst, "raw", 8*time.Minute, testimages.BootOptions{})
	t.Logf("boot took %s", time.Since(bootStart).Round(time.Second))
}

// TestLVMKeepNeedsLVM2: lvm = keep on a guest without lvm2 (the lvm-var tree has none) is
// refused naming the package, before anything is written; nothing is left behind.
func TestLVMKeepNeedsLVM2(t *testing.T) {
	dir := t.TempDir()
	src := testimages.Make(t, "lvm-var", dir)
	dst := filepath.Join(dir, "keep.raw")
	_, err := Make(context.Background(), src, dst, Options{LVM: LVMKeep})
	if err == nil || !strings.Contains(err.Error(), "lvm2") || !strings.Contains(err.Error(), "/sbin/lvm") {
		t.Fatalf("Make keep without lvm2: %v", err)
	}
	if _, serr := os.Stat(dst); !os.IsNotExist(serr) {
		t.Errorf("output left behind: %v", serr)
	}
	checkReleased(t, dst)
	checkReleased(t, src)
	if _, err := Make(context.Background(), src, dst, Options{LVM: "thin"}); err == nil || !strings.Contains(err.Error(), `lvm "thin"`) {
		t.Errorf("Make with lvm = thin: %v", err)
	}
}

// TestLVMKeepBootOnLVRefused: lvm = keep with the guest's /boot on a logical volume (the
// lvm-var guest's fstab pointed at its var LV, a stand-in /sbin/lvm) is refused for BIOS
// naming the LV, before anything is written; nothing is left behind.
func TestLVMKeepBootOnLVRefused(t *testing.T) {
	dir := t.TempDir()
	src := testimages.Make(t, "lvm-var", dir)
	img, err := chroot.OpenImage(src, chroot.ImageOptions{TempDir: dir, Guest: chroot.GuestOptions{FstabMounts: []string{}}})
	if err != nil {
		t.Fatal(err)
	}
	g := img.Guest.Guest()
	fstab, err := g.ReadFileLimit("/etc/fstab", chroot.MaxFstabSize)
	if err == nil {
		fstab = regexp.MustCompile(`(?m)^\S+\s+/boot\s`).ReplaceAll(fstab, []byte("/dev/mapper/chromo--vg-var /boot "))
		err = errors.Join(g.WriteFile("/etc/fstab", fstab, 0o644), g.WriteFile("/usr/sbin/lvm", []byte("#!/bin/sh\nexit 1\n"), 0o755))
	}
	if cerr := img.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	dst := filepath.Join(dir, "keep.raw")
	_, err = Make(context.Background(), src, dst, Options{LVM: LVMKeep})
	if err == nil || !strings.Contains(err.Error(), "/boot is on logical volume chromo-vg/var") {
		t.Fatalf("Make keep with /boot on an LV: %v", err)
	}
	if _, serr := os.Stat(dst); !os.IsNotExist(serr) {
		t.Errorf("output left behind: %v", serr)
	}
	checkReleased(t, dst)
	checkReleased(t, src)
}

// TestLVMKeep: with lvm = keep the physical volume is copied whole into a partition of type
// 8e after the /boot partition (active); internal/lvm reads the same VG (name and id) with
// the same LVs from it, the root LV's filesystem is intact, and the kernel command line
// names the root as /dev/mapper/chromo--vg-root. The lvm-var tree has no lvm2: a stand-in
// /sbin/lvm lets Make past that check, so this disk is not booted (its initramfs has no LVM).
func TestLVMKeep(t *testing.T) {
	testtier.Acceptance(t, "a bootable disk build")
	dir := t.TempDir()
	src := testimages.Make(t, "lvm-var", dir)
	img, err := chroot.OpenImage(src, chroot.ImageOptions{TempDir: dir, Guest: chroot.GuestOptions{FstabMounts: []string{}}})
	if err != nil {
		t.Fatal(err)
	}
	werr := img.Guest.Guest().WriteFile("/usr/sbin/lvm", []byte("#!/bin/sh\nexit 1\n"), 0o755)
	if cerr := img.Close(); werr != nil || cerr != nil {
		t.Fatal(werr, cerr)
	}
	lvs := sourceLVs(t, src)
	srcVG := readVG(t, src, 2)
	dst := filepath.Join(dir, "keep.raw")
	res, err := Make(context.Background(), src, dst, Options{LVM: LVMKeep, Logf: func(f string, a ...any) { t.Logf(f, a...) }})
	if err != nil {
		t.Fatalf("Make keep: %v", err)
	}
	checkReleased(t, dst)
	if !strings.HasPrefix(res.Cmdline, "root=/dev/mapper/chromo--vg-root ro ") || res.RootUUID != lvs["chromo-vg/root"].UUID {
		t.Errorf("command line %q, root %s", res.Cmdline, res.RootUUID)
	}
	d := readTable(t, dst)
	ps := d.PartitionTable.Partitions
	if len(ps) != 2 || ps[0].Type != "83" || !ps[0].Bootable || ps[1].Type != "8e" || ps[1].Bootable {
		t.Fatalf("partitions %+v, want /boot (83, active) and the PV (8e)", ps)
	}
	newVG := readVG(t, dst, 2)
	if newVG.vg.Name != "chromo-vg" || newVG.vg.ID != srcVG.vg.ID || newVG.names != srcVG.names {
		t.Errorf("VG on the new disk %s %s with %s; the source's %s %s with %s",
			newVG.vg.Name, newVG.vg.ID, newVG.names, srcVG.vg.Name, srcVG.vg.ID, srcVG.names)
	}
	rootRange := newVG.ranges["chromo-vg/root"]
	if uuid, _ := blkidAt(t, dst, rootRange[0], rootRange[1]); uuid != lvs["chromo-vg/root"].UUID {
		t.Errorf("root LV on the new disk holds UUID %q, want %s", uuid, lvs["chromo-vg/root"].UUID)
	}
	fsckAt(t, dst, rootRange[0], rootRange[1])
	files := packertest.GuestFiles(t, dst, "/grub/grub.cfg")
	if conf := string(files["/grub/grub.cfg"]); !strings.Contains(conf, " "+res.Cmdline+"\n") {
		t.Errorf("grub.cfg on /boot:\n%s", conf)
	}
}

type vgRead struct {
	vg     *lvm.VG
	names  string              // LV names, sorted as the metadata lists them
	ranges map[string][2]int64 // linear LV -> byte offset in the image, size
}

// readVG reads the PV on partition part of image with internal/lvm.
func readVG(t *testing.T, image string, part int) vgRead {
	t.Helper()
	p := readTable(t, image).PartitionTable.Partitions[part-1]
	f, err := os.Open(image)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pv, err := lvm.ReadPV(lvm.Device{Name: "partition " + strconv.Itoa(part), R: io.NewSectionReader(f, p.Start*512, p.Size*512), Size: p.Size * 512})
	if err != nil {
		t.Fatalf("PV on partition %d of %s: %v", part, image, err)
	}
	vols, err := lvm.Map([]*lvm.PV{pv})
	if err != nil {
		t.Fatal(err)
	}
	r := vgRead{vg: pv.VG, ranges: map[string][2]int64{}}
	var names []string
	for _, lv := range pv.VG.LVs {
		names = append(names, lv.Name)
	}
	r.names = strings.Join(names, ",")
	for _, v := range vols {
		if v.Err == nil {
			r.ranges[v.Name()] = [2]int64{p.Start*512 + v.Offset, v.Size}
		}
	}
	return r
}

func TestLVMRootArgs(t *testing.T) {
	lv := &chroot.Partition{Number: -1, LV: "chromo-vg/root-fs"}
	for _, c := range []struct {
		root *chroot.Partition
		tool string
		want string
	}{
		{lv, "update-initramfs", "root=/dev/mapper/chromo--vg-root--fs"},
		{lv, "dracut", "root=/dev/mapper/chromo--vg-root--fs rd.lvm.lv=chromo-vg/root-fs"},
		{&chroot.Partition{Number: 2}, "dracut", ""},
		{nil, "dracut", ""},
	} {
		if got := lvmRootArgs(c.root, c.tool); got != c.want {
			t.Errorf("lvmRootArgs(%v, %s) = %q, want %q", c.root, c.tool, got, c.want)
		}
	}
}

// TestLVMFstab: flattened, the LVs copied are named by UUID and one left out is commented
// out; kept (a PV copied), LV lines stay as they are.
func TestLVMFstab(t *testing.T) {
	root := &chroot.Partition{Number: -1, LV: "vg/root", UUID: "11111111-1111-1111-1111-111111111111", FSType: "ext4"}
	varLV := &chroot.Partition{Number: -1, LV: "vg/var", UUID: "22222222-2222-2222-2222-222222222222", FSType: "ext4"}
	pv := &chroot.Partition{Number: 2, FSType: lvmMember, UUID: "pvpvpv"}
	old := &chroot.Disk{Partitions: []*chroot.Partition{pv}, Volumes: []*chroot.Partition{root, varLV}}
	in := "/dev/mapper/vg-root / ext4 defaults 0 1\n/dev/vg/var /var ext4 defaults 0 2\n/dev/mapper/vg-home /home ext4 nofail 0 2\n"
	got, changed := rewriteFstab(in, old, nil, map[*chroot.Partition]string{root: root.UUID, varLV: varLV.UUID}, root.UUID, "")
	want := "UUID=" + root.UUID + "\t/\text4\tdefaults\t0\t1\nUUID=" + varLV.UUID + "\t/var\text4\tdefaults\t0\t2\n" +
		"# /dev/mapper/vg-home /home ext4 nofail 0 2 # " + lvmLeftOutNote + "\n"
	if !changed || got != want {
		t.Errorf("flattened fstab:\n%s\nwant:\n%s", got, want)
	}
	got, _ = rewriteFstab(in, old, nil, map[*chroot.Partition]string{pv: pv.UUID}, root.UUID, "")
	want = "UUID=" + root.UUID + "\t/\text4\tdefaults\t0\t1\n/dev/vg/var /var ext4 defaults 0 2\n/dev/mapper/vg-home /home ext4 nofail 0 2\n"
	if got != want {
		t.Errorf("kept fstab:\n%s\nwant:\n%s", got, want)
	}
}

// TestLVMLayoutBootMark: a kept PV is a partition of type 8e (MBR) or Linux LVM (GPT) and
// never carries the boot mark, which goes to the /boot partition.
func TestLVMLayoutBootMark(t *testing.T) {
	fss := []srcFS{{Size: 256 * mib, FSType: "ext4"}, {Size: 1024 * mib, FSType: lvmMember, Root: true}}
	l, err := planLayout(FirmwareBIOS, fss, 0)
	if err != nil {
		t.Fatal(err)
	}
	d, path := writeLayout(t, l)
	if ps := d.PartitionTable.Partitions; ps[0].Type != "83" || ps[1].Type != "8e" || ps[0].Bootable || ps[1].Bootable {
		t.Fatalf("MBR partitions %+v", ps)
	}
	if err := markBootPartition(path, l, &chroot.Partition{Number: 1}); err != nil {
		t.Fatal(err)
	}
	if ps := readTable(t, path).PartitionTable.Partitions; !ps[0].Bootable || ps[1].Bootable {
		t.Errorf("after marking /boot: %+v", ps)
	}

	l, err = planLayout(FirmwareBoth, fss, 0)
	if err != nil {
		t.Fatal(err)
	}
	d, path = writeLayout(t, l)
	if ps := d.PartitionTable.Partitions; ps[2].Type != gptLVM || strings.Contains(ps[2].Attrs, "LegacyBIOSBootable") {
		t.Fatalf("GPT partitions %+v", ps)
	}
	if err := markBootPartition(path, l, &chroot.Partition{Number: 2}); err != nil {
		t.Fatal(err)
	}
	ps := readTable(t, path).PartitionTable.Partitions
	if !strings.Contains(ps[1].Attrs, "LegacyBIOSBootable") || strings.Contains(ps[2].Attrs+ps[0].Attrs, "LegacyBIOSBootable") {
		t.Errorf("after marking /boot: %+v", ps)
	}
}

// TestLVMKeepGrubBoot: the lvm-grub guest (/boot a partition; / on LV root of VG grub-vg; lvm2
// and GRUB's tools installed, as on an installed Debian) made bootable with lvm = keep and
// GRUB for BIOS (the default) keeps its PV whole, boots with root=/dev/mapper/grub--vg-root
// (the initramfs the guest's update-initramfs rebuilt in the sandbox activates the VG) under
// SeaBIOS to multi-user.target (one TCG boot, about 3 minutes with Make). With
// CHROMOGENIC_BOOT_ALL=1 virt-v2v also converts it without complaint (it finds our GRUB and
// would regenerate grub.cfg with the guest's grub-mkconfig): opt-in because virt-v2v rebuilds
// the initramfs with the guest's update-initramfs inside its TCG appliance, which alone took
// more than 20 minutes on a loaded 2-core host.
func TestLVMKeepGrubBoot(t *testing.T) {
	testtier.Acceptance(t, "a qemu boot and a virt-v2v conversion")
	dir := t.TempDir()
	src := testimages.Make(t, "lvm-grub", dir)
	lvs := sourceLVs(t, src)
	root := lvs["grub-vg/root"]
	if root == nil {
		t.Fatalf("source LVs %v", lvs)
	}
	srcVG := readVG(t, src, 2)
	dst := filepath.Join(dir, "keep.raw")
	start := time.Now()
	res, err := Make(context.Background(), src, dst, Options{Firmware: FirmwareBIOS, LVM: LVMKeep, Logf: func(f string, a ...any) { t.Logf(f, a...) }})
	if err != nil {
		t.Fatalf("Make keep: %v", err)
	}
	t.Logf("Make (keep) took %s: %+v", time.Since(start).Round(time.Millisecond), res)
	checkReleased(t, dst)
	checkReleased(t, src)
	if !strings.HasPrefix(res.Cmdline, "root=/dev/mapper/grub--vg-root ro ") || res.RootUUID != root.UUID {
		t.Errorf("command line %q, root %s; want root=/dev/mapper/grub--vg-root, %s", res.Cmdline, res.RootUUID, root.UUID)
	}
	if len(res.Bootloaders) != 1 || !strings.HasPrefix(res.Bootloaders[0], "grub-pc") {
		t.Errorf("bootloaders %v, want GRUB for BIOS", res.Bootloaders)
	}
	ps := readTable(t, dst).PartitionTable.Partitions
	if len(ps) != 2 || ps[0].Type != "83" || !ps[0].Bootable || ps[1].Type != "8e" || ps[1].Bootable {
		t.Fatalf("partitions %+v, want /boot (83, active) and the PV (8e)", ps)
	}
	if newVG := readVG(t, dst, 2); newVG.vg.Name != "grub-vg" || newVG.vg.ID != srcVG.vg.ID || newVG.names != srcVG.names {
		t.Errorf("VG on the new disk %s %s with %s; the source's %s %s with %s",
			newVG.vg.Name, newVG.vg.ID, newVG.names, srcVG.vg.Name, srcVG.vg.ID, srcVG.names)
	}
	files := packertest.GuestFiles(t, dst, "/grub/grub.cfg")
	if conf := string(files["/grub/grub.cfg"]); !strings.Contains(conf, " "+res.Cmdline+"\n") {
		t.Errorf("grub.cfg on /boot:\n%s", conf)
	}
	bootStart := time.Now()
	testimages.BootWith(t, dst, "raw", 10*time.Minute, testimages.BootOptions{})
	t.Logf("boot took %s", time.Since(bootStart).Round(time.Second))
	if os.Getenv("CHROMOGENIC_BOOT_ALL") == "" {
		t.Log("virt-v2v conversion skipped (20+ minutes of TCG); CHROMOGENIC_BOOT_ALL=1 runs it")
		return
	}
	checkVirtV2V(t, dst)
	checkReleased(t, dst)
}

// TestLVMRootVolume: RootVolume carries the user's pick of the root logical volume where the
// rule would take another: on lvm-var the rule picks chromo-vg/root, the only LV holding a
// Linux root; chromo-vg/var, picked, is taken as the root (its fstab read, its copy opened)
// and refused as no Linux system, not replaced by the rule's root. An LV that does not exist
// is refused naming root_volume. Nothing is left behind.
func TestLVMRootVolume(t *testing.T) {
	testtier.Acceptance(t, "bootable's copy of an LVM disk")
	dir := t.TempDir()
	src := testimages.Make(t, "lvm-var", dir)
	dst := filepath.Join(dir, "out.raw")
	for lv, want := range map[string]string{
		"chromo-vg/var":  "the root filesystem (logical volume chromo-vg/var) does not hold a Linux system",
		"chromo-vg/none": `root_volume "chromo-vg/none": no such logical volume`,
	} {
		start := time.Now()
		_, err := Make(context.Background(), src, dst, Options{RootVolume: lv, Logf: func(f string, a ...any) { t.Logf(f, a...) }})
		t.Logf("%s: %s: %v", lv, time.Since(start).Round(time.Millisecond), err)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Make with root volume %s: %v, want %q", lv, err, want)
		}
		if _, serr := os.Stat(dst); !os.IsNotExist(serr) {
			t.Errorf("output left behind after the failure: %v", serr)
		}
		checkReleased(t, dst)
		checkReleased(t, src)
	}
}
