package chroot

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
)

// lvmOn runs an LVM command that sees only the devices devs (never a scan of the host's),
// without device-mapper and without writing host state.
func lvmOn(t *testing.T, devs []string, args ...string) string {
	t.Helper()
	full := []string{"--driverloaded", "n"}
	for _, d := range devs {
		full = append(full, "--devices", d)
	}
	full = append(full, "--config",
		`devices { obtain_device_list_from_udev=0 hints="none" use_devicesfile=0 } activation { udev_sync=0 udev_rules=0 } backup { backup=0 archive=0 }`)
	cmd := exec.Command(args[0], append(full, args[1:]...)...)
	cmd.Env = append(os.Environ(), "LVM_SUPPRESS_FD_WARNINGS=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// A volume group spanning two disks (VG chromo-span, a PV on each, made by LVM's own tools):
// attached together, LV root (on disk 1's PV) and LV data (on disk 2's PV) are mapped each
// onto its own disk's file, at the byte LVM's own report gives; LV wide, whose extents run
// over both PVs, is refused naming its layout; Detach leaves no loop on either disk.
func TestAttachVGSpanningDisks(t *testing.T) {
	dir := t.TempDir()
	var disks, pvs []string
	var pvLoops []*Loop
	for i := 0; i < 2; i++ {
		p := filepath.Join(dir, "disk"+strconv.Itoa(i+1)+".raw")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		f.Truncate(64 << 20)
		f.Close()
		if out, err := exec.Command("sh", "-c", "printf 'label: dos\\nstart=2048, type=8e\\n' | sfdisk -q "+p).CombinedOutput(); err != nil {
			t.Fatalf("sfdisk: %v %s", err, out)
		}
		l, err := AttachLoop(p, 1<<20, 63<<20, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Detach() })
		disks, pvs, pvLoops = append(disks, p), append(pvs, l.Path), append(pvLoops, l)
	}
	for _, pv := range pvs {
		lvmOn(t, pvs, "pvcreate", "-y", pv)
	}
	lvmOn(t, pvs, "vgcreate", "-s", "4m", "chromo-span", pvs[0], pvs[1])
	lvmOn(t, pvs, "lvcreate", "--activate", "n", "--zero", "n", "--wipesignatures", "n", "-n", "root", "-l", "8", "chromo-span", pvs[0])
	lvmOn(t, pvs, "lvcreate", "--activate", "n", "--zero", "n", "--wipesignatures", "n", "-n", "data", "-l", "6", "chromo-span", pvs[1])
	lvmOn(t, pvs, "lvcreate", "--activate", "n", "--zero", "n", "--wipesignatures", "n", "-n", "wide", "-l", "100%FREE", "chromo-span")
	// Where LVM puts each LV: the byte on its disk (partition at 1 MiB, pe_start, extent).
	peOut := lvmOn(t, pvs, "pvs", "--noheadings", "--units", "b", "--nosuffix", "-o", "pe_start", pvs[1])
	peStart, err := strconv.ParseInt(lastLine(peOut), 10, 64)
	if err != nil {
		t.Fatalf("pvs pe_start: %q", peOut)
	}
	want := map[string][2]int64{} // LV -> disk, byte offset
	lvs := lvmOn(t, pvs, "lvs", "--noheadings", "-o", "lv_name,seg_pe_ranges", "chromo-span")
	for _, line := range strings.Split(lvs, "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || f[0] == "wide" {
			continue
		}
		dev, rng, _ := strings.Cut(f[1], ":")
		first, _ := strconv.ParseInt(strings.Split(rng, "-")[0], 10, 64)
		disk := int64(0)
		if dev == pvs[1] {
			disk = 1
		}
		want[f[0]] = [2]int64{disk, 1<<20 + peStart + first*4<<20}
	}
	if len(want) != 2 {
		t.Fatalf("lvs: %v from\n%s", want, lvs)
	}
	for _, l := range pvLoops {
		if err := l.Detach(); err != nil {
			t.Fatal(err)
		}
	}

	d, paths, err := attachDisks(disks[0], ImageOptions{ExtraDisks: disks[1:]})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Detach()
	if len(paths) != 2 || len(d.Others) != 1 {
		t.Fatalf("paths %v, others %v", paths, d.Others)
	}
	got := map[string]*Partition{}
	for _, v := range d.Volumes {
		got[v.LV] = v
	}
	for name, w := range want {
		v := got["chromo-span/"+name]
		if v == nil || int64(v.Disk) != w[0] || v.Start != w[1] {
			t.Fatalf("LV %s: %+v, want disk %d at byte %d (lvs:\n%s)", name, v, w[0]+1, w[1], lvs)
		}
		backed := false
		for _, l := range LoopsBackedBy(disks[w[0]]) {
			backed = backed || l == v.Device
		}
		if !backed {
			t.Errorf("LV %s on %s, which is not backed by %s", name, v.Device, disks[w[0]])
		}
	}
	if got["chromo-span/wide"] != nil {
		t.Errorf("LV wide mapped: %+v", got["chromo-span/wide"])
	}
	_, err = d.ResolveSpec("/dev/chromo-span/wide")
	if err == nil || !strings.Contains(err.Error(), "LV chromo-span/wide has 2 segments on 2 PVs") {
		t.Errorf("LV wide: %v, want a refusal naming 2 segments on 2 PVs", err)
	}
	if err := d.Detach(); err != nil {
		t.Fatal(err)
	}
	for _, p := range disks {
		if l := LoopsBackedBy(p); len(l) > 0 {
			t.Errorf("loops left on %s: %v", p, l)
		}
	}
}

// lastLine is the last line of s, trimmed (LVM prints warnings before its report).
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// A build holding the lvm-span guest (VG debian-vg over two disks: / on LV root of disk 1,
// /srv on LV data of disk 2) is killed with SIGKILL: RecoverStale releases its mounts and the
// loops of both disks, the data LV's on disk 2 among them.
func TestLVMSpanningDisksKilledBuildRecovered(t *testing.T) {
	if c := os.Getenv("CHROMOGENIC_LVM_SPAN_CHILD"); c != "" {
		img, err := OpenImages(strings.Split(c, ","), ImageOptions{MountPath: os.Getenv("CHROMOGENIC_LVM_SPAN_MNT")})
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Println("MOUNTED", len(img.Disk.Volumes))
		time.Sleep(time.Hour)
	}
	dir := t.TempDir()
	disk1 := testimages.Make(t, "lvm-span", dir)
	disks := append([]string{disk1}, testimages.OtherDisks(disk1)...)
	mnt := filepath.Join(dir, "mnt")
	killChild(t, dir, "TestLVMSpanningDisksKilledBuildRecovered", "MOUNTED 2",
		"CHROMOGENIC_LVM_SPAN_CHILD="+strings.Join(disks, ","), "CHROMOGENIC_LVM_SPAN_MNT="+mnt)
	// Mounted: / (the root LV, on disk 1's file) and /srv (the data LV, on disk 2's file).
	srvOnDisk2 := false
	for _, m := range MountsUnder(mnt) {
		for _, l := range LoopsBackedBy(disks[1]) {
			srvOnDisk2 = srvOnDisk2 || (m.Point == filepath.Join(mnt, "srv") && m.Source == l)
		}
	}
	if m := MountedUnder(mnt); len(m) != 2 || !srvOnDisk2 || len(LoopsBackedBy(disks[0])) == 0 {
		t.Fatalf("after SIGKILL: mounts %v, /srv from a loop of disk 2 %v, disk 1 loops %v: the test would prove nothing",
			m, srvOnDisk2, LoopsBackedBy(disks[0]))
	}
	recoverKilled(t, disks...)
	for _, d := range disks {
		assertReleased(t, d, mnt)
	}
}
