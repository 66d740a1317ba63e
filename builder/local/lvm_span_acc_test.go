package local

import (
	_ "embed"
	"encoding/json"
	"errors"
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

	"github.com/chromogenic/packer-plugin-chromogenic/internal/bootable"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/lvm"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/ova"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

//go:embed test-fixtures/lvm-span.pkr.hcl
var lvmSpanTemplate string

// TestAccLocalLVMSpanningDisks runs the real packer binary on the lvm-span image (VG
// debian-vg over two disks: / on LV root of disk 1's PV, /srv on LV data of disk 2's PV, /boot
// a partition of disk 1) given as both source_paths, while the host has a VG of the same name.
// A shell provisioner writes a marker under / and under /srv, which must land in the root LV
// of working copy 1 and the data LV of working copy 2 (read back after the build through
// internal/lvm's mapping of both disks and fresh read-only loops); chromogenic-clean removes a
// DHCP lease on the root LV and a file of its remove rule on the data LV, their neighbours
// kept. Nothing stays mounted or attached, no lease is left, the source disks are unchanged
// and so is the host's debian-vg. bootable with lvm = flatten is refused on the working copies
// (the data LV is on disk 2, which flatten cannot place). chromogenic-convert makes disk 1
// bootable with the VG kept (lvm = keep: its PV copied whole) and packs an OVA of both disks:
// each VMDK passes qemu-img check, disk 2 equals its working copy. The OVA's disks boot together with SeaBIOS (one TCG
// boot): the guest's lvm2 assembles the VG across them, and it prints the markers and that /
// and /srv are mounted from LVs root (on vda2) and data (on vdb1) with their filesystems'
// UUIDs.
func TestAccLocalLVMSpanningDisks(t *testing.T) {
	testtier.Acceptance(t, "a packer build")
	env := packertest.Setup(t)
	start := time.Now()
	dir := t.TempDir()
	leases := filepath.Join(dir, "leases")
	t.Setenv("CHROMOGENIC_LEASE_DIR", leases)
	host := hostVG(t, "debian-vg")
	hostBefore := host()
	disk1 := testimages.Make(t, "lvm-span", dir)
	disk2 := testimages.OtherDisks(disk1)[0]
	sources := []string{disk1, disk2}
	var before []string
	for _, s := range sources {
		before = append(before, packertest.FileSHA256(t, s))
	}
	out, conv, mnt := filepath.Join(dir, "out"), filepath.Join(dir, "conv"), filepath.Join(dir, "mnt")
	marker := fmt.Sprintf("span-marker-%d", time.Now().UnixNano())

	res := env.MustBuild(t, dir, lvmSpanTemplate, 20*time.Minute, "-var", "disk1="+disk1, "-var", "disk2="+disk2,
		"-var", "output_directory="+out, "-var", "mount_path="+mnt, "-var", "marker="+marker, "-var", "convert_directory="+conv)
	work := []string{filepath.Join(out, "span.raw"), filepath.Join(out, "span-disk2.raw")}
	for _, w := range work {
		assertReleased(t, mnt, w)
	}
	if left, _ := filepath.Glob(filepath.Join(leases, "*")); len(left) > 0 {
		t.Errorf("leases left after the build: %v", left)
	}
	if !regexp.MustCompile(`logical volume debian-vg/data \(ext4, \d+ MiB\) on /dev/loop\d+`).MatchString(res.Output) {
		t.Errorf("the data LV is not listed among the attached devices:\n%s", res.Output)
	}
	if !strings.Contains(res.Output, filepath.Join(mnt, "srv")+"=/dev/loop") {
		t.Errorf("/srv not mounted from a loop device during the build:\n%s", res.Output)
	}
	res.WantOutput(t, "The guest has 2 disks")

	// The working copies: the root LV on disk 1, the data LV on disk 2, each holding its files.
	lvs := spanLVs(t, work)
	r, d := lvs["debian-vg/root"], lvs["debian-vg/data"]
	if r == nil || d == nil || r.disk != 0 || d.disk != 1 {
		t.Fatalf("LVs of the working copies: root %+v, data %+v; want root on disk 1, data on disk 2", r, d)
	}
	rootFiles := readExt(t, work[0], r.start, r.size, "acc-span-root", "var/lib/dhcp/acc-neighbour",
		"var/lib/dhcp/dhclient.eth0.leases", "srv/acc-span-data", "etc/hostname")
	dataFiles := readExt(t, work[1], d.start, d.size, "acc-span-data", "acc-span-keep", "acc-span-junk", "chromogenic-span")
	for _, c := range []struct {
		where, got, want string
	}{
		{"/acc-span-root in the root LV", rootFiles["acc-span-root"], marker + "\n"},
		{"the lease's neighbour in the root LV", rootFiles["var/lib/dhcp/acc-neighbour"], marker + "\n"},
		{"/srv/acc-span-data in the data LV", dataFiles["acc-span-data"], marker + "\n"},
		{"the removed file's neighbour in the data LV", dataFiles["acc-span-keep"], marker + "\n"},
		{"the image's marker in the data LV", dataFiles["chromogenic-span"], "data LV on disk 2\n"},
		{"root LV's /etc/hostname", rootFiles["etc/hostname"], "chromogenic-lvm-span\n"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.where, c.got, c.want)
		}
	}
	for what, gone := range map[string]bool{
		"the DHCP lease (dhcp-client-state) in the root LV":         hasKey(rootFiles, "var/lib/dhcp/dhclient.eth0.leases"),
		"/srv/acc-span-junk (remove, custom-rules) in the data LV":  hasKey(dataFiles, "acc-span-junk"),
		"a copy of /srv/acc-span-data in the root LV's /srv folder": hasKey(rootFiles, "srv/acc-span-data"),
	} {
		if gone {
			t.Errorf("%s is there after the build", what)
		}
	}
	for i, s := range sources {
		if after := packertest.FileSHA256(t, s); after != before[i] {
			t.Errorf("source disk %d changed: sha256 %s -> %s", i+1, before[i], after)
		}
	}
	if after := host(); after != hostBefore {
		t.Errorf("the host's VG debian-vg changed:\nbefore %s\nafter  %s", hostBefore, after)
	}

	// lvm = flatten cannot place the data LV of disk 2: refused, naming it, and nothing made.
	flat := filepath.Join(dir, "flat.raw")
	_, err := bootable.Make(t.Context(), work[0], flat, bootable.Options{SourceFormat: "raw", OtherDisks: work[1:], LVM: bootable.LVMFlatten})
	if err == nil || !strings.Contains(err.Error(), "/srv from logical volume debian-vg/data on disk 2") {
		t.Errorf("bootable with lvm = flatten: %v, want a refusal naming /srv's LV on disk 2", err)
	}
	if _, serr := os.Stat(flat); serr == nil {
		t.Errorf("a refused flatten left %s", flat)
	}

	// The OVA: two clean VMDKs; disk 1 /boot and the PV kept whole, disk 2 its working copy.
	raws := ovaDisksRaw(t, filepath.Join(conv, "span.ova"), filepath.Join(dir, "span-ova"), 2)
	if b, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", "raw", work[1], raws[1]).CombinedOutput(); err != nil {
		t.Errorf("the OVA's disk 2 differs from working copy 2: %v\n%s", err, b)
	}
	out1, err := exec.Command("sfdisk", "--json", raws[0]).Output()
	if err != nil {
		t.Fatalf("sfdisk --json: %v", err)
	}
	var doc struct {
		PartitionTable struct {
			Partitions []struct {
				Type     string
				Bootable bool
			} `json:"partitions"`
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal(out1, &doc); err != nil {
		t.Fatal(err)
	}
	if ps := doc.PartitionTable.Partitions; len(ps) != 2 || !ps[0].Bootable || ps[0].Type != "83" || ps[1].Type != "8e" {
		t.Errorf("the OVA's disk 1 has partitions %+v, want /boot (active) and the PV (8e)", ps)
	}
	olvs := spanLVs(t, raws)
	if or := olvs["debian-vg/root"]; or == nil || or.disk != 0 {
		t.Errorf("the OVA's root LV: %+v, want it on disk 1", or)
	} else if got := readExt(t, raws[0], or.start, or.size, "acc-span-root")["acc-span-root"]; got != marker+"\n" {
		t.Errorf("/acc-span-root in the OVA's root LV = %q", got)
	}
	assertNothingUnder(t, dir)

	bootStart := time.Now()
	_, serial := testimages.BootDisks(t, []testimages.BootDisk{{Path: raws[0], Format: "raw"}, {Path: raws[1], Format: "raw"}},
		10*time.Minute, testimages.BootOptions{})
	t.Logf("boot of the OVA's two disks took %s", time.Since(bootStart).Round(time.Second))
	rootUUID, dataUUID := fsUUID(t, work[0], r.start, r.size), fsUUID(t, work[1], d.start, d.size)
	for _, want := range []string{
		// Not anchored at the start of a line: a getty's prompt may come first.
		`(?m)SPAN-MARKER ` + regexp.QuoteMeta(marker+" "+marker) + ` data LV on disk 2\r?$`,
		`(?m)SPAN-BOOT / /dev/mapper/debian--vg-root ` + rootUUID + ` /dev/vda2\(\d+\)\r?$`,
		`(?m)SPAN-BOOT /srv /dev/mapper/debian--vg-data ` + dataUUID + ` /dev/vdb1\(\d+\)\r?$`,
	} {
		if !regexp.MustCompile(want).MatchString(serial) {
			t.Errorf("the guest's boot report does not match %s; serial ends:\n%s", want, tail(serial, 3000))
		}
	}
	assertNothingUnder(t, dir)
	t.Logf("TestAccLocalLVMSpanningDisks took %s", time.Since(start).Round(time.Second))
}

func hasKey(m map[string]string, k string) bool { _, ok := m[k]; return ok }

type diskRange struct {
	disk        int
	start, size int64
}

// spanLVs reads the LVM PVs on every partition of each disk of one guest with internal/lvm,
// maps them together (a VG may span the disks) and returns each linear LV's disk (0-based) and
// byte range in that disk's file.
func spanLVs(t *testing.T, disks []string) map[string]*diskRange {
	t.Helper()
	var pvs []*lvm.PV
	where := map[*lvm.PV]diskRange{}
	for i, disk := range disks {
		b, err := exec.Command("sfdisk", "--json", disk).Output()
		if err != nil {
			t.Fatalf("sfdisk --json %s: %v", disk, err)
		}
		var doc struct {
			PartitionTable struct {
				Partitions []struct{ Start, Size int64 } `json:"partitions"`
			} `json:"partitiontable"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(disk)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for n, p := range doc.PartitionTable.Partitions {
			pv, err := lvm.ReadPV(lvm.Device{Name: fmt.Sprintf("disk %d partition %d", i+1, n+1),
				R: io.NewSectionReader(f, p.Start*512, p.Size*512), Size: p.Size * 512})
			if errors.Is(err, lvm.ErrNotPV) {
				continue
			}
			if err != nil {
				t.Fatalf("disk %d partition %d: %v", i+1, n+1, err)
			}
			pvs = append(pvs, pv)
			where[pv] = diskRange{disk: i, start: p.Start * 512}
		}
	}
	vols, err := lvm.Map(pvs)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]*diskRange{}
	for _, v := range vols {
		if v.Err == nil {
			w := where[v.PV]
			m[v.Name()] = &diskRange{w.disk, w.start + v.Offset, v.Size}
		}
	}
	return m
}

// ovaDisksRaw extracts the n disks of the OVA appliance, fails the test unless qemu-img check
// accepts each, and returns them converted to raw by qemu-img (base-<i>.raw).
func ovaDisksRaw(t *testing.T, appliance, base string, n int) []string {
	t.Helper()
	a, err := ova.Open(appliance)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if len(a.Disks) != n {
		t.Fatalf("OVA disks %+v, want %d", a.Disks, n)
	}
	var raws []string
	for i, d := range a.Disks {
		vmdk, raw := base+"-"+strconv.Itoa(i+1)+".vmdk", base+"-"+strconv.Itoa(i+1)+".raw"
		f, err := os.Create(vmdk)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.ReadFrom(a.Member(d))
		if cerr := f.Close(); err != nil || cerr != nil {
			t.Fatal(err, cerr)
		}
		if b, err := exec.Command("qemu-img", "check", "-f", "vmdk", vmdk).CombinedOutput(); err != nil {
			t.Errorf("qemu-img check of the OVA's disk %d (%s): %v\n%s", i+1, d.File, err, b)
		}
		if b, err := exec.Command("qemu-img", "convert", "-f", "vmdk", "-O", "raw", vmdk, raw).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img convert: %v\n%s", err, b)
		}
		os.Remove(vmdk)
		raws = append(raws, raw)
	}
	return raws
}
