package local

import (
	"crypto/sha256"
	_ "embed"
	"encoding/json"
	"fmt"
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
	"github.com/chromogenic/packer-plugin-chromogenic/internal/ova"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

//go:embed test-fixtures/lvm.pkr.hcl
var lvmTemplate string

// TestAccLocalLVM runs the real packer binary on the lvm-var image (/ and /var logical
// volumes of VG chromo-vg, /boot a partition) while the host has a VG of the same name: a shell
// provisioner writes into /var, which must land in the var LV's extents of the artifact (read
// back after the build through internal/lvm's mapping and a fresh read-only loop, not through
// the builder's engine), and chromogenic-clean removes a DHCP lease there while its neighbour
// stays. The root LV holds no copy of either; nothing stays mounted or attached; the host's
// chromo-vg is unchanged. chromogenic-convert then makes it bootable with the LVs flattened
// (the default) and packs an OVA: its one VMDK passes qemu-img check and holds /boot, root and
// var as plain partitions, the marker in the var partition. The OVA's disk boots with SeaBIOS
// (one TCG boot); the guest prints the marker and that / and /var are mounted from the
// flattened partitions holding the root and var LVs' filesystems (their UUIDs).
func TestAccLocalLVM(t *testing.T) {
	testtier.Acceptance(t, "a packer build")
	env := packertest.Setup(t)
	dir := t.TempDir()
	// Leases of its own: what is left there after the build is this build's.
	leases := filepath.Join(dir, "leases")
	t.Setenv("CHROMOGENIC_LEASE_DIR", leases)
	host := hostVG(t, "chromo-vg")
	hostBefore := host()
	src := testimages.Make(t, "lvm-var", dir)
	before := packertest.FileSHA256(t, src)
	out, conv := filepath.Join(dir, "out"), filepath.Join(dir, "conv")
	mnt := filepath.Join(dir, "mnt")
	marker := fmt.Sprintf("lvm-marker-%d", time.Now().UnixNano())

	start := time.Now()
	res := env.MustBuild(t, dir, lvmTemplate, 15*time.Minute, "-var", "source_path="+src, "-var", "output_directory="+out,
		"-var", "mount_path="+mnt, "-var", "marker="+marker, "-var", "convert_directory="+conv)
	t.Logf("packer build on lvm-var took %s", time.Since(start).Round(time.Second))
	artifact := filepath.Join(out, "lvm.raw")
	assertReleased(t, mnt, artifact)
	if left, _ := filepath.Glob(filepath.Join(leases, "*")); len(left) > 0 {
		t.Errorf("leases left after the build: %v", left)
	}
	// The open-image step lists the LVs it attached.
	if !regexp.MustCompile(`logical volume chromo-vg/var \(ext4, \d+ MiB\) on /dev/loop\d+`).MatchString(res.Output) {
		t.Errorf("the var LV is not listed among the attached devices:\n%s", res.Output)
	}
	// During the build /var was the var LV's loop, not a directory of the root LV.
	if !strings.Contains(res.Output, "LVM-MOUNTS=") || !strings.Contains(res.Output, filepath.Join(mnt, "var")+"=/dev/loop") {
		t.Errorf("/var not mounted from a loop device during the build:\n%s", res.Output)
	}

	lvs := lvRanges(t, artifact, 2)
	v, r := lvs["chromo-vg/var"], lvs["chromo-vg/root"]
	if v == nil || r == nil {
		t.Fatalf("LVs of the artifact: %v", lvs)
	}
	varFiles := readExt(t, artifact, v.start, v.size, "acc-lvm-marker", "lib/dhcp/acc-neighbour", "lib/dhcp/dhclient.eth0.leases")
	if got := varFiles["acc-lvm-marker"]; got != marker+"\n" {
		t.Errorf("/var/acc-lvm-marker in the var LV = %q, want %q", got, marker+"\n")
	}
	if got := varFiles["lib/dhcp/acc-neighbour"]; got != marker+"\n" {
		t.Errorf("the lease's neighbour in the var LV = %q, want it kept", got)
	}
	if _, ok := varFiles["lib/dhcp/dhclient.eth0.leases"]; ok {
		t.Errorf("the DHCP lease is still in the var LV after chromogenic-clean")
	}
	rootFiles := readExt(t, artifact, r.start, r.size, "var/acc-lvm-marker", "etc/hostname")
	if _, ok := rootFiles["var/acc-lvm-marker"]; ok {
		t.Errorf("the marker landed in the root LV's /var directory")
	}
	if rootFiles["etc/hostname"] != "chromogenic-lvm-var\n" {
		t.Errorf("root LV's /etc/hostname = %q", rootFiles["etc/hostname"])
	}
	if after := packertest.FileSHA256(t, src); after != before {
		t.Errorf("source image changed: sha256 %s -> %s", before, after)
	}
	if after := host(); after != hostBefore {
		t.Errorf("the host's VG chromo-vg changed:\nbefore %s\nafter  %s", hostBefore, after)
	}
	raw := checkLVMOVA(t, filepath.Join(conv, "lvm.ova"), dir, marker)
	assertNothingUnder(t, dir)

	bootStart := time.Now()
	_, serial := testimages.BootDisks(t, []testimages.BootDisk{{Path: raw, Format: "raw"}}, 10*time.Minute, testimages.BootOptions{})
	t.Logf("boot took %s", time.Since(bootStart).Round(time.Second))
	rootUUID, varUUID := fsUUID(t, artifact, r.start, r.size), fsUUID(t, artifact, v.start, v.size)
	for _, want := range []string{
		// Not anchored at the start of a line: a getty's prompt may come first.
		`(?m)LVM-MARKER ` + regexp.QuoteMeta(marker) + `\r?$`,
		`(?m)LVM-BOOT / /dev/[sv]da2 ` + rootUUID + `\r?$`,
		`(?m)LVM-BOOT /var /dev/[sv]da3 ` + varUUID + `\r?$`,
	} {
		if !regexp.MustCompile(want).MatchString(serial) {
			t.Errorf("the guest's boot report does not match %s; serial ends:\n%s", want, tail(serial, 3000))
		}
	}
}

// hostVG makes a VG named name on a loop-backed file of the test (a host VG of the same name
// as the guest's) with LVM's own tools, restricted to that loop, and returns a function giving
// the sha256 of the file's first 2 MiB (label and metadata) and what LVM reports of it.
func hostVG(t *testing.T, name string) func() string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "host-pv.raw")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(file, 64<<20); err != nil {
		t.Fatal(err)
	}
	l, err := chroot.AttachLoop(file, 0, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Detach() })
	lvmOn := func(args ...string) string {
		t.Helper()
		full := append([]string{"--driverloaded", "n", "--devices", l.Path, "--config",
			`devices { obtain_device_list_from_udev=0 hints="none" use_devicesfile=0 } activation { udev_sync=0 udev_rules=0 } backup { backup=0 archive=0 }`},
			args[1:]...)
		cmd := exec.Command(args[0], full...)
		cmd.Env = append(os.Environ(), "LVM_SUPPRESS_FD_WARNINGS=1")
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, b)
		}
		return string(b)
	}
	lvmOn("pvcreate", "-y", l.Path)
	lvmOn("vgcreate", name, l.Path)
	lvmOn("lvcreate", "--activate", "n", "--zero", "n", "--wipesignatures", "n", "-n", "root", "-l", "4", name)
	return func() string {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.CopyN(h, f, 2<<20); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%x %s", h.Sum(nil), lvmOn("lvs", "--noheadings", "-o", "vg_name,vg_uuid,vg_seqno,lv_name,seg_pe_ranges"))
	}
}

// fsUUID is the filesystem UUID blkid probes at [off, off+size) of image.
func fsUUID(t *testing.T, image string, off, size int64) string {
	t.Helper()
	b, err := exec.Command("blkid", "-p", "-O", strconv.FormatInt(off, 10), "-S", strconv.FormatInt(size, 10),
		"-s", "UUID", "-o", "value", image).Output()
	u := strings.TrimSpace(string(b))
	if err != nil || u == "" {
		t.Fatalf("blkid at [%d, +%d) of %s: %q %v", off, size, image, u, err)
	}
	return u
}

// assertNothingUnder fails the test if anything is mounted under dir or a loop device is
// backed by a file under it: what the build, the post-processor and the test's own checks
// attached is all released.
func assertNothingUnder(t *testing.T, dir string) {
	t.Helper()
	if m := chroot.MountedUnder(dir); len(m) > 0 {
		t.Errorf("still mounted under %s: %v", dir, m)
	}
	files, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if bf := strings.TrimSuffix(strings.TrimSpace(string(b)), " (deleted)"); err == nil && strings.HasPrefix(bf, dir+"/") {
			t.Errorf("loop %s still backed by %s", filepath.Base(filepath.Dir(filepath.Dir(f))), bf)
		}
	}
}

// ovaDiskRaw extracts the one disk of the OVA appliance to base.vmdk, fails the test unless
// qemu-img check accepts it, and returns it converted to base.raw (qemu-img convert: the
// oracle's reading, not ours).
func ovaDiskRaw(t *testing.T, appliance, base string) string {
	t.Helper()
	a, err := ova.Open(appliance)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if len(a.Disks) != 1 {
		t.Fatalf("OVA disks %+v, want 1", a.Disks)
	}
	vmdk, raw := base+".vmdk", base+".raw"
	f, err := os.Create(vmdk)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.ReadFrom(a.Member(a.Disks[0]))
	if cerr := f.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	defer os.Remove(vmdk)
	if b, err := exec.Command("qemu-img", "check", "-f", "vmdk", vmdk).CombinedOutput(); err != nil {
		t.Errorf("qemu-img check of the OVA's disk: %v\n%s", err, b)
	}
	if b, err := exec.Command("qemu-img", "convert", "-f", "vmdk", "-O", "raw", vmdk, raw).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v\n%s", err, b)
	}
	return raw
}

// checkLVMOVA unpacks the one disk of the OVA, checks it with qemu-img, and reads the
// flattened disk's partitions: /boot (active), root and var, the marker in var. It returns the
// disk, converted to raw by qemu-img.
func checkLVMOVA(t *testing.T, appliance, dir, marker string) string {
	t.Helper()
	raw := ovaDiskRaw(t, appliance, filepath.Join(dir, "lvm-ova"))
	out, err := exec.Command("sfdisk", "--json", raw).Output()
	if err != nil {
		t.Fatalf("sfdisk --json: %v", err)
	}
	var doc struct {
		PartitionTable struct {
			Partitions []struct {
				Start, Size int64
				Type        string
				Bootable    bool
			} `json:"partitions"`
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	ps := doc.PartitionTable.Partitions
	if len(ps) != 3 || !ps[0].Bootable || ps[1].Type != "83" || ps[2].Type != "83" {
		t.Fatalf("the OVA's disk has partitions %+v, want /boot (active), root, var: no LVM", ps)
	}
	if got := readExt(t, raw, ps[2].Start*512, ps[2].Size*512, "acc-lvm-marker")["acc-lvm-marker"]; got != marker+"\n" {
		t.Errorf("marker in the flattened var partition = %q", got)
	}
	if got := readExt(t, raw, ps[1].Start*512, ps[1].Size*512, "etc/hostname")["etc/hostname"]; got != "chromogenic-lvm-var\n" {
		t.Errorf("the flattened root partition's /etc/hostname = %q", got)
	}
	return raw
}

type byteRange struct{ start, size int64 }

// lvRanges maps the LVs of the PV on partition part of image with internal/lvm and returns
// each linear LV's byte range in the image.
func lvRanges(t *testing.T, image string, part int) map[string]*byteRange {
	t.Helper()
	out, err := exec.Command("sfdisk", "--json", image).Output()
	if err != nil {
		t.Fatalf("sfdisk --json %s: %v", image, err)
	}
	var doc struct {
		PartitionTable struct {
			Partitions []struct{ Start, Size int64 } `json:"partitions"`
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal(out, &doc); err != nil || len(doc.PartitionTable.Partitions) < part {
		t.Fatalf("partition table of %s: %v %s", image, err, out)
	}
	p := doc.PartitionTable.Partitions[part-1]
	f, err := os.Open(image)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pv, err := lvm.ReadPV(lvm.Device{Name: "partition " + strconv.Itoa(part), R: io.NewSectionReader(f, p.Start*512, p.Size*512), Size: p.Size * 512})
	if err != nil {
		t.Fatalf("PV on partition %d: %v", part, err)
	}
	vols, err := lvm.Map([]*lvm.PV{pv})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]*byteRange{}
	for _, v := range vols {
		if v.Err == nil {
			m[v.Name()] = &byteRange{p.Start*512 + v.Offset, v.Size}
		}
	}
	return m
}

// readExt mounts [off, off+size) of image read-only through a fresh loop (util-linux's
// losetup and mount) and returns the regular files among paths that exist in it.
func readExt(t *testing.T, image string, off, size int64, paths ...string) map[string]string {
	t.Helper()
	dev, err := exec.Command("losetup", "--show", "-f", "-r", "-o", strconv.FormatInt(off, 10),
		"--sizelimit", strconv.FormatInt(size, 10), image).Output()
	if err != nil {
		t.Fatalf("losetup: %v", err)
	}
	loop := strings.TrimSpace(string(dev))
	defer exec.Command("losetup", "-d", loop).Run()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-o", "ro,noload", "-t", "ext4", loop, dir).CombinedOutput(); err != nil {
		t.Fatalf("mount the range [%d, +%d) of %s: %v %s", off, size, image, err, out)
	}
	defer exec.Command("umount", dir).Run()
	found := map[string]string{}
	for _, p := range paths {
		full := filepath.Join(dir, p)
		if fi, err := os.Lstat(full); err == nil && fi.Mode().IsRegular() {
			b, _ := os.ReadFile(full)
			found[p] = string(b)
		}
	}
	return found
}
