package testimages

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

// Partition types as sfdisk --json prints them.
const (
	espType   = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
	linuxType = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
	mib       = 1 << 20
)

type sfdiskTable struct {
	PartitionTable struct {
		Label      string `json:"label"`
		SectorSize int64  `json:"sectorsize"`
		Partitions []struct {
			Start    int64  `json:"start"`
			Size     int64  `json:"size"`
			Type     string `json:"type"`
			UUID     string `json:"uuid"`
			Bootable bool   `json:"bootable"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

type wantPart struct {
	ptype    string // sfdisk type: MBR hex id or GPT GUID
	bootable bool
	sizeMiB  int64  // 0: any
	fstype   string // blkid TYPE
	label    string // blkid LABEL
}

type wantMount struct {
	spec   string // "UUID", "PARTUUID", "LABEL" or a literal device path
	target string
	fstype string
}

type layout struct {
	label  string // "dos", "gpt" or "" (no partition table)
	parts  []wantPart
	root   int         // 1-based partition holding / (0: whole file; -1: none)
	mounts []wantMount // expected fstab entries, in order
	// vg and lvs: when the root partition is an LVM2 PV, the VG on it and its linear LVs
	// with the blkid TYPE each holds (root holds /).
	vg  string
	lvs map[string]string
	// onOther: the fstab mount points on the second disk (two-disk), see checkOtherDisk.
	onOther map[string]bool
	// otherLVs: the VG spans a second disk, whose one partition is the VG's second PV
	// (pv1) holding these linear LVs (lvm-span), see checkOtherPV; markers: the files each
	// LV named here (root too) holds and their content.
	otherLVs map[string]string
	markers  map[string]map[string]string
	// rootOpts are extra mount options for the root (a btrfs root's subvol=).
	rootOpts string
}

var layouts = map[string]layout{
	"mbr-boot": {
		label: "dos",
		parts: []wantPart{
			{ptype: "83", bootable: true, sizeMiB: 256, fstype: "ext4", label: "boot"},
			{ptype: "83", fstype: "ext4", label: "root"},
		},
		root:   2,
		mounts: []wantMount{{"UUID", "/", "ext4"}, {"UUID", "/boot", "ext4"}},
	},
	"gpt-efi": {
		label: "gpt",
		parts: []wantPart{
			{ptype: espType, sizeMiB: 100, fstype: "vfat", label: "EFI"},
			{ptype: linuxType, fstype: "ext4", label: "root"},
		},
		root:   2,
		mounts: []wantMount{{"PARTUUID", "/", "ext4"}, {"UUID", "/boot/efi", "vfat"}},
	},
	"bare-ext4": {
		root:   0,
		mounts: []wantMount{{"LABEL", "/", "ext4"}},
	},
	"xfs-root": {
		label:  "dos",
		parts:  []wantPart{{ptype: "83", bootable: true, fstype: "xfs", label: "root"}},
		root:   1,
		mounts: []wantMount{{"UUID", "/", "xfs"}},
	},
	"no-linux": {
		label: "dos",
		parts: []wantPart{{ptype: "c", fstype: "vfat", label: "DATA"}},
		root:  -1,
	},
	"lvm": {
		label: "dos",
		parts: []wantPart{{ptype: "8e", fstype: "LVM2_member"}},
		root:  1, // through the root LV, see lvOffsets
		mounts: []wantMount{
			{"/dev/mapper/guestvg-root", "/", "ext4"},
			{"/dev/mapper/guestvg-swap_1", "none", "swap"},
		},
		vg:  "guestvg",
		lvs: map[string]string{"root": "ext4", "swap_1": "swap"},
	},
	"lvm-var": {
		label: "dos",
		parts: []wantPart{
			{ptype: "83", bootable: true, sizeMiB: 256, fstype: "ext4", label: "boot"},
			{ptype: "8e", fstype: "LVM2_member"},
		},
		root: 2, // through the root LV
		mounts: []wantMount{
			{"/dev/mapper/chromo--vg-root", "/", "ext4"},
			{"UUID", "/boot", "ext4"},
			{"/dev/chromo-vg/var", "/var", "ext4"},
			{"/dev/mapper/chromo--vg-home", "/home", "ext4"},
		},
		vg:  "chromo-vg",
		lvs: map[string]string{"root": "ext4", "var": "ext4"},
	},
	"lvm-grub": {
		label: "dos",
		parts: []wantPart{
			{ptype: "83", bootable: true, sizeMiB: 256, fstype: "ext4", label: "boot"},
			{ptype: "8e", fstype: "LVM2_member"},
		},
		root: 2, // through the root LV
		mounts: []wantMount{
			{"/dev/mapper/grub--vg-root", "/", "ext4"},
			{"UUID", "/boot", "ext4"},
		},
		vg:  "grub-vg",
		lvs: map[string]string{"root": "ext4"},
	},
	"lvm-span": {
		label: "dos",
		parts: []wantPart{
			{ptype: "83", bootable: true, sizeMiB: 256, fstype: "ext4", label: "boot"},
			{ptype: "8e", fstype: "LVM2_member"},
		},
		root: 2, // through the root LV
		mounts: []wantMount{
			{"/dev/mapper/debian--vg-root", "/", "ext4"},
			{"UUID", "/boot", "ext4"},
			{"/dev/mapper/debian--vg-data", "/srv", "ext4"},
		},
		vg:       "debian-vg",
		lvs:      map[string]string{"root": "ext4"},
		otherLVs: map[string]string{"data": "ext4"},
		markers: map[string]map[string]string{
			"root": {"etc/chromogenic-span": "root LV on disk 1\n"},
			"data": {"chromogenic-span": "data LV on disk 2\n"},
		},
	},
	"two-disk": {
		label: "dos",
		parts: []wantPart{{ptype: "83", bootable: true, fstype: "ext4", label: "root"}},
		root:  1,
		mounts: []wantMount{
			{"UUID", "/", "ext4"},
			{"UUID", "/srv", "ext4"},
			{"/dev/vdb2", "/var/lib/data", "ext4"},
		},
		onOther: map[string]bool{"/srv": true, "/var/lib/data": true},
	},
	"btrfs-fedora": {
		label: "dos",
		parts: []wantPart{
			{ptype: "83", bootable: true, sizeMiB: 256, fstype: "ext4", label: "boot"},
			{ptype: "83", fstype: "btrfs", label: "fedora"},
		},
		root:     2,
		rootOpts: "subvol=root",
		mounts:   []wantMount{{"UUID", "/", "btrfs"}, {"UUID", "/boot", "ext4"}, {"UUID", "/home", "btrfs"}},
	},
	"btrfs-suse": {
		label:  "dos",
		parts:  []wantPart{{ptype: "83", bootable: true, fstype: "btrfs", label: "suse"}},
		root:   1, // its default subvolume, @/.snapshots/1/snapshot
		mounts: []wantMount{{"UUID", "/", "btrfs"}, {"UUID", "/var", "btrfs"}, {"UUID", "/home", "btrfs"}, {"UUID", "/opt", "btrfs"}, {"UUID", "/.snapshots", "btrfs"}},
	},
}

func TestKindsAreCovered(t *testing.T) {
	kinds := Kinds(t)
	if len(kinds) != len(layouts) {
		t.Errorf("mkimage.sh --list = %v; the test knows %d kinds", kinds, len(layouts))
	}
	for _, k := range kinds {
		if _, ok := layouts[k]; !ok {
			t.Errorf("kind %q has no expected layout in this test", k)
		}
	}
}

// TestMakeLayouts checks the disk of every kind. The unit tier checks the disks the other
// tests get (Make: shared through the cache, made by this recipe); the acceptance tier
// (make test) has mkimage.sh make each one again (MakeFresh), whatever the cache holds.
func TestMakeLayouts(t *testing.T) {
	dir := t.TempDir()
	mk := Make
	if testtier.Enabled() {
		mk = MakeFresh
	}
	for _, kind := range Kinds(t) {
		t.Run(kind, func(t *testing.T) {
			t.Parallel() // mkimage.sh, cp and mounts: the kinds wait on the disk, not the CPU
			want, ok := layouts[kind]
			if !ok {
				t.Fatalf("no expected layout for %q", kind)
			}
			img := mk(t, kind, dir)
			t.Cleanup(func() { os.Remove(img) })
			checkLayout(t, img, want)
		})
	}
}

func TestBootSample(t *testing.T) {
	img := Sample(t)
	if fi, err := os.Stat(img); err != nil || fi.Size() != 2<<30 {
		t.Fatalf("sample image %s: %v (size %d), want 2 GiB", img, err, sizeOf(fi))
	}
	tbl := sfdisk(t, img)
	if l := tbl.PartitionTable.Label; l != "dos" || len(tbl.PartitionTable.Partitions) != 1 {
		t.Fatalf("sample image: label %q with %d partitions, want dos with 1", l, len(tbl.PartitionTable.Partitions))
	}
	// The boot itself is proven in CI by internal/ova's TestBootExports, which boots the
	// sample's data as OVA, qcow2 and VMDK; booting the raw file too costs a minute of TCG.
	if os.Getenv("CHROMOGENIC_BOOT_ALL") == "" {
		t.Log("raw boot of the sample skipped (internal/ova TestBootExports boots its exports); CHROMOGENIC_BOOT_ALL=1 runs it")
		return
	}
	Boot(t, img, "raw", 5*time.Minute)
}

func sizeOf(fi os.FileInfo) int64 {
	if fi == nil {
		return -1
	}
	return fi.Size()
}

func checkLayout(t *testing.T, img string, want layout) {
	t.Helper()
	fi, err := os.Stat(img)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != 2<<30 {
		t.Errorf("size %d, want 2 GiB", fi.Size())
	}
	// Sparse: far less than the virtual size is allocated.
	if du := allocated(t, img); du > 1<<30 {
		t.Errorf("%d MiB allocated: not sparse", du/mib)
	}

	// parts maps a partition number (0: the whole file) to its place and blkid probe.
	type probed struct {
		off, size int64
		tags      map[string]string
	}
	parts := map[int]probed{}
	partUUID := map[int]string{}
	if want.label == "" {
		if out, err := exec.Command("sfdisk", "--json", img).CombinedOutput(); err == nil {
			t.Fatalf("sfdisk found a partition table on a partitionless image:\n%s", out)
		}
		parts[0] = probed{0, fi.Size(), blkid(t, img, 0, 0)}
	} else {
		tbl := sfdisk(t, img)
		pt := tbl.PartitionTable
		if pt.Label != want.label {
			t.Fatalf("label %q, want %q", pt.Label, want.label)
		}
		if len(pt.Partitions) != len(want.parts) {
			t.Fatalf("%d partitions, want %d", len(pt.Partitions), len(want.parts))
		}
		ss := pt.SectorSize
		if ss == 0 {
			ss = 512
		}
		for i, p := range pt.Partitions {
			w := want.parts[i]
			n := i + 1
			if !strings.EqualFold(p.Type, w.ptype) {
				t.Errorf("p%d type %q, want %q", n, p.Type, w.ptype)
			}
			if p.Bootable != w.bootable {
				t.Errorf("p%d bootable %v, want %v", n, p.Bootable, w.bootable)
			}
			if w.sizeMiB != 0 && p.Size*ss != w.sizeMiB*mib {
				t.Errorf("p%d size %d bytes, want %d MiB", n, p.Size*ss, w.sizeMiB)
			}
			if p.Start*ss%mib != 0 {
				t.Errorf("p%d starts at sector %d: not 1 MiB aligned", n, p.Start)
			}
			tags := blkid(t, img, p.Start*ss, p.Size*ss)
			if tags["TYPE"] != w.fstype {
				t.Errorf("p%d blkid TYPE %q, want %q (%v)", n, tags["TYPE"], w.fstype, tags)
			}
			if w.label != "" && tags["LABEL"] != w.label {
				t.Errorf("p%d blkid LABEL %q, want %q", n, tags["LABEL"], w.label)
			}
			parts[n] = probed{p.Start * ss, p.Size * ss, tags}
			partUUID[n] = strings.ToLower(p.UUID)
		}
	}
	if want.root < 0 {
		return
	}

	root := parts[want.root]
	rootOff, rootSize := root.off, root.size
	rootTags := root.tags
	if root.tags["TYPE"] == "LVM2_member" {
		lvs := lvOffsets(t, img, root.off, want.vg, "pv0", want.lvs)
		for name, fstype := range want.lvs {
			tags := blkid(t, img, lvs[name][0], lvs[name][1])
			if tags["TYPE"] != fstype {
				t.Errorf("LV %s at offset %d: blkid %v, want %s", name, lvs[name][0], tags, fstype)
			}
		}
		rootOff, rootSize = lvs["root"][0], lvs["root"][1]
		rootTags = blkid(t, img, rootOff, rootSize)
		if rootTags["TYPE"] != "ext4" {
			t.Fatalf("root LV at offset %d: blkid %v, want ext4", rootOff, rootTags)
		}
	}

	dir := mountRO(t, img, rootOff, rootSize, want.rootOpts)
	osRelease, err := os.ReadFile(filepath.Join(dir, "etc/os-release"))
	if err != nil || !bytes.Contains(osRelease, []byte(`VERSION_ID="12"`)) {
		t.Errorf("etc/os-release: %v\n%s", err, osRelease)
	}
	separateBoot := false
	for _, m := range want.mounts {
		separateBoot = separateBoot || m.target == "/boot"
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "boot/vmlinuz-*")); !separateBoot && len(m) == 0 {
		t.Errorf("no /boot/vmlinuz-* in the root file system")
	}
	fstab, err := os.ReadFile(filepath.Join(dir, "etc/fstab"))
	if err != nil {
		t.Fatal(err)
	}
	entries := parseFstab(string(fstab))
	if len(entries) != len(want.mounts) {
		t.Fatalf("fstab has %d entries, want %d:\n%s", len(entries), len(want.mounts), fstab)
	}
	for i, e := range entries {
		w := want.mounts[i]
		if e[1] != w.target || e[2] != w.fstype {
			t.Errorf("fstab entry %d = %v, want %s on %s", i, e, w.fstype, w.target)
			continue
		}
		key, val, _ := strings.Cut(e[0], "=")
		if want.onOther[w.target] {
			checkOtherDisk(t, img, key, val)
			continue
		}
		if w.spec != key && w.spec != e[0] {
			t.Errorf("fstab entry %d source %q, want %s", i, e[0], w.spec)
			continue
		}
		// The source must name the file system that the test expects at that mount point.
		var match bool
		switch key {
		case "UUID", "LABEL":
			for n, p := range parts {
				if p.tags[key] == val && p.tags["TYPE"] == w.fstype {
					match = true
					if w.target == "/" && n != want.root {
						t.Errorf("fstab / names partition %d, want %d", n, want.root)
					}
				}
			}
			if w.target == "/" && rootTags[key] == val {
				match = true
			}
		case "PARTUUID":
			match = partUUID[want.root] == strings.ToLower(val) && w.target == "/"
		default:
			match = want.vg != "" && (strings.HasPrefix(e[0], "/dev/mapper/"+strings.ReplaceAll(want.vg, "-", "--")+"-") ||
				strings.HasPrefix(e[0], "/dev/"+want.vg+"/"))
		}
		if !match {
			t.Errorf("fstab entry %q names no matching file system in the image", strings.Join(e, " "))
		}
	}
	checkMarkers(t, dir, want.markers["root"])
	if want.otherLVs != nil {
		checkOtherPV(t, img, want)
	}
	hostname, _ := os.ReadFile(filepath.Join(dir, "etc/hostname"))
	if !strings.HasPrefix(string(hostname), "chromogenic-") {
		t.Errorf("etc/hostname = %q", hostname)
	}
}

func parseFstab(s string) [][]string {
	var out [][]string
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		out = append(out, f)
	}
	return out
}

func allocated(t *testing.T, path string) int64 {
	t.Helper()
	out, err := exec.Command("du", "-B1", "--", path).Output()
	if err != nil {
		t.Fatalf("du %s: %v", path, err)
	}
	n, _ := strconv.ParseInt(strings.Fields(string(out))[0], 10, 64)
	return n
}

func sfdisk(t *testing.T, img string) sfdiskTable {
	t.Helper()
	out, err := exec.Command("sfdisk", "--json", img).Output()
	if err != nil {
		t.Fatalf("sfdisk --json %s: %v", img, err)
	}
	var tbl sfdiskTable
	if err := json.Unmarshal(out, &tbl); err != nil {
		t.Fatalf("sfdisk --json: %v\n%s", err, out)
	}
	return tbl
}

// blkid probes the file system at [off, off+size) of img (size 0: to the end).
func blkid(t *testing.T, img string, off, size int64) map[string]string {
	t.Helper()
	args := []string{"-p", "-o", "export", "-O", fmt.Sprint(off)}
	if size > 0 {
		args = append(args, "-S", fmt.Sprint(size))
	}
	out, err := exec.Command("blkid", append(args, img)...).Output()
	if err != nil {
		t.Fatalf("blkid %v %s: %v", args, img, err)
	}
	tags := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			tags[k] = v
		}
	}
	return tags
}

// lvOffsets reads the LVM2 text metadata of the PV at pvOff (a regexp reading, independent
// of internal/lvm) and returns the byte offset and size of each LV of vg named in lvs (each
// one linear segment on pv, the metadata's name of the PV at pvOff: pv0, pv1...).
func lvOffsets(t *testing.T, img string, pvOff int64, vg, pv string, lvs map[string]string) map[string][2]int64 {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, mib)
	if _, err := f.ReadAt(buf, pvOff); err != nil {
		t.Fatal(err)
	}
	// The metadata area is a ring of versions; take the newest (highest seqno).
	var meta string
	best := -1
	for _, m := range regexp.MustCompile(`(?s)`+regexp.QuoteMeta(vg)+` \{\n\s*id = "[^"]*"\n\s*seqno = (\d+)\n.*?\n# Generated by LVM2`).FindAllStringSubmatch(string(buf), -1) {
		if n, _ := strconv.Atoi(m[1]); n > best {
			best, meta = n, m[0]
		}
	}
	if meta == "" {
		t.Fatalf("no metadata of VG %s in the PV", vg)
	}
	num := func(re string) int64 {
		t.Helper()
		m := regexp.MustCompile(re).FindStringSubmatch(meta)
		if m == nil {
			t.Fatalf("VG metadata: no match for %s in\n%s", re, meta)
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		return n
	}
	extent := num(`extent_size = (\d+)`) * 512
	peStart := num(`(?s)\n\s*`+pv+` \{\n.*?pe_start = (\d+)`) * 512
	out := map[string][2]int64{}
	for name := range lvs {
		lv := `(?s)\n\s*` + regexp.QuoteMeta(name) + ` \{\n.*?segment_count = 1\n.*?extent_count = (\d+).*?stripes = \[\n\s*"` + pv + `", (\d+)`
		count := num(lv)
		first := num(`(?s)\n\s*` + regexp.QuoteMeta(name) + ` \{\n.*?stripes = \[\n\s*"` + pv + `", (\d+)`)
		out[name] = [2]int64{pvOff + peStart + first*extent, count * extent}
	}
	return out
}

// mountRO mounts the file system at [off, off+size) of img read-only (through an autoclear
// loop) and unmounts it when the test ends.
func mountRO(t *testing.T, img string, off, size int64, extra string) string {
	t.Helper()
	dir := t.TempDir()
	opts := fmt.Sprintf("ro,loop,offset=%d,sizelimit=%d", off, size)
	if extra != "" {
		opts += "," + extra
	}
	if out, err := exec.Command("mount", "-o", opts, img, dir).CombinedOutput(); err != nil {
		t.Fatalf("mount -o %s %s: %v\n%s", opts, img, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
	return dir
}

// checkOtherDisk checks that the second disk beside img (OtherDisks) is 512 MiB, sparse, and
// holds the file system an fstab entry of the first names: by UUID, or /dev/vdb2 (partition 2).
func checkOtherDisk(t *testing.T, img, key, val string) {
	t.Helper()
	others := OtherDisks(img)
	if len(others) != 1 {
		t.Fatalf("other disks of %s: %v, want one", img, others)
	}
	disk2 := others[0]
	if fi, err := os.Stat(disk2); err != nil || fi.Size() != 512*mib {
		t.Fatalf("%s: %v, want 512 MiB", disk2, err)
	}
	pt := sfdisk(t, disk2).PartitionTable
	if pt.Label != "dos" || len(pt.Partitions) != 2 {
		t.Fatalf("%s: %s table with %d partitions, want dos with 2", disk2, pt.Label, len(pt.Partitions))
	}
	var tags []map[string]string
	for _, p := range pt.Partitions {
		tags = append(tags, blkid(t, disk2, p.Start*512, p.Size*512))
	}
	switch {
	case key == "UUID":
		if tags[0]["UUID"] != val || tags[0]["LABEL"] != "srv" {
			t.Errorf("%s p1: %v, want the srv file system of UUID %s", disk2, tags[0], val)
		}
	case key == "/dev/vdb2":
		if tags[1]["TYPE"] != "ext4" || tags[1]["LABEL"] != "data" {
			t.Errorf("%s p2: %v, want the ext4 data file system", disk2, tags[1])
		}
	default:
		t.Errorf("unexpected fstab source %s on the second disk", key)
	}
}

// TestDriveArgs: every disk its own drive on the bus, in order; bad input refused.
func TestDriveArgs(t *testing.T) {
	disks := []BootDisk{{"/d/a.raw", "raw"}, {"/d/b.vmdk", "vmdk"}, {"/d/c.raw", "raw"}}
	for _, c := range []struct {
		bus  string
		want string
	}{
		{"", "-drive file=/d/a.raw,format=raw,if=virtio -drive file=/d/b.vmdk,format=vmdk,if=virtio -drive file=/d/c.raw,format=raw,if=virtio"},
		{"sata", "-device ahci,id=ahci -drive file=/d/a.raw,format=raw,if=none,id=disk0 -device ide-hd,drive=disk0,bus=ahci.0 " +
			"-drive file=/d/b.vmdk,format=vmdk,if=none,id=disk1 -device ide-hd,drive=disk1,bus=ahci.1 " +
			"-drive file=/d/c.raw,format=raw,if=none,id=disk2 -device ide-hd,drive=disk2,bus=ahci.2"},
		{"ide", "-drive file=/d/a.raw,format=raw,if=ide,index=0 -drive file=/d/b.vmdk,format=vmdk,if=ide,index=1 -drive file=/d/c.raw,format=raw,if=ide,index=2"},
	} {
		got, err := driveArgs(disks, c.bus)
		if err != nil || strings.Join(got, " ") != c.want {
			t.Errorf("bus %q: %v %v\nwant %s", c.bus, got, err, c.want)
		}
	}
	for _, bad := range [][]BootDisk{{{"/d/a,b.raw", "raw"}}, {{"/d/a.raw", ""}}, {{"", "raw"}}} {
		if _, err := driveArgs(bad, ""); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if _, err := driveArgs(append(disks, disks...), "ide"); err == nil {
		t.Error("6 IDE disks accepted")
	}
	if _, err := driveArgs(disks, "scsi"); err == nil {
		t.Error("bus scsi accepted")
	}
}

// TestRecipeKeyPerKind: each kind's cache key covers the shared script and its own recipe
// only. A new kind or a change to one kind's file leaves the other kinds' keys (their cached
// disks) as they are; a change to the kind's own file, to the shared script or to a script it
// uses gives it a new key.
func TestRecipeKeyPerKind(t *testing.T) {
	root := t.TempDir()
	write := func(rel, text string) {
		t.Helper()
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, rel := range RecipeFiles("a") {
		write(rel, rel+" v1\n")
	}
	write("test/images/kinds/b.sh", "b v1\n")
	keys := func() (string, string) {
		t.Helper()
		a, err := recipeKeyIn(root, "a")
		if err != nil {
			t.Fatal(err)
		}
		b, err := recipeKeyIn(root, "b")
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
	a0, b0 := keys()
	if a0 == b0 {
		t.Fatalf("kinds a and b share the key %s", a0)
	}
	write("test/images/kinds/c.sh", "a new kind\n")
	if a, b := keys(); a != a0 || b != b0 {
		t.Errorf("a new kind changed the others' keys: a %s -> %s, b %s -> %s", a0, a, b0, b)
	}
	write("test/images/kinds/b.sh", "b v2\n")
	a1, b1 := keys()
	if a1 != a0 || b1 == b0 {
		t.Errorf("b's recipe changed: a %s -> %s (want the same), b %s -> %s (want a new key)", a0, a1, b0, b1)
	}
	for _, rel := range []string{"test/images/mkimage.sh", "scripts/images/lib.sh", "scripts/images/debootstrap-tree.sh"} {
		write(rel, rel+" changed\n")
		a, b := keys()
		if a == a1 || b == b1 {
			t.Errorf("%s changed, keys did not: a %s -> %s, b %s -> %s", rel, a1, a, b1, b)
		}
		a1, b1 = a, b
	}
	if _, err := recipeKeyIn(root, "missing"); err == nil {
		t.Errorf("a kind without a recipe file has a key")
	}
	// The repository's kinds each have their recipe file.
	for _, k := range Kinds(t) {
		if _, err := recipeKeyIn(RepoRoot(), k); err != nil {
			t.Errorf("kind %s: %v", k, err)
		}
	}
}

// checkMarkers checks that the files of want (path relative to dir: content) hold that.
func checkMarkers(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	for p, w := range want {
		if b, err := os.ReadFile(filepath.Join(dir, p)); err != nil || string(b) != w {
			t.Errorf("%s = %q %v, want %q", p, b, err, w)
		}
	}
}

// checkOtherPV checks the second disk of a VG spanning two disks (lvm-span): 512 MiB, sparse,
// one partition of type 8e, an LVM2 PV carrying want.vg's metadata in its own metadata area
// (read from that disk alone), with the LVs want.otherLVs on it (pv1), each holding its
// filesystem and markers.
func checkOtherPV(t *testing.T, img string, want layout) {
	t.Helper()
	others := OtherDisks(img)
	if len(others) != 1 {
		t.Fatalf("other disks of %s: %v, want one", img, others)
	}
	disk2 := others[0]
	if fi, err := os.Stat(disk2); err != nil || fi.Size() != 512*mib {
		t.Fatalf("%s: %v, want 512 MiB", disk2, err)
	}
	if du := allocated(t, disk2); du > 256*mib {
		t.Errorf("%s: %d MiB allocated: not sparse", disk2, du/mib)
	}
	pt := sfdisk(t, disk2).PartitionTable
	if pt.Label != "dos" || len(pt.Partitions) != 1 || pt.Partitions[0].Type != "8e" {
		t.Fatalf("%s: %+v, want a dos table with one partition of type 8e", disk2, pt)
	}
	off := pt.Partitions[0].Start * 512
	if tags := blkid(t, disk2, off, pt.Partitions[0].Size*512); tags["TYPE"] != "LVM2_member" {
		t.Fatalf("%s p1: %v, want an LVM2 PV", disk2, tags)
	}
	lvs := lvOffsets(t, disk2, off, want.vg, "pv1", want.otherLVs)
	for name, fstype := range want.otherLVs {
		r := lvs[name]
		if tags := blkid(t, disk2, r[0], r[1]); tags["TYPE"] != fstype || tags["LABEL"] != name {
			t.Errorf("LV %s at byte %d of disk 2: blkid %v, want %s labelled %s", name, r[0], tags, fstype, name)
			continue
		}
		if m := want.markers[name]; m != nil {
			checkMarkers(t, mountRO(t, disk2, r[0], r[1], ""), m)
		}
	}
}
