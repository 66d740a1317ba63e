package lvm_test

import (
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/lvm"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
)

// lvmReport runs an LVM reporting command on one device only (no scan of the host's
// devices, no device-mapper, no host state written) and returns its rows, fields split on '|'.
func lvmReport(t *testing.T, dev string, cmd string, args ...string) [][]string {
	t.Helper()
	full := append([]string{"--driverloaded", "n", "--devices", dev, "--config",
		`devices { obtain_device_list_from_udev=0 hints="none" use_devicesfile=0 } backup { backup=0 archive=0 }`,
		"--noheadings", "--separator", "|", "--units", "b", "--nosuffix"}, args...)
	c := exec.Command(cmd, full...)
	c.Env = append(os.Environ(), "LVM_SUPPRESS_FD_WARNINGS=1")
	out, err := c.Output()
	if err != nil {
		t.Fatalf("%s %v: %v", cmd, args, err)
	}
	var rows [][]string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		rows = append(rows, strings.Split(strings.TrimSpace(l), "|"))
	}
	return rows
}

func atoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestMapAgreesWithLVM: on the test disks made by LVM's own pvcreate, vgcreate, lvcreate and
// vgcfgrestore, the offsets and sizes Map gives are those LVM's lvs reports (pe_start +
// first extent × extent size), and the LVs it refuses are the ones with more than one
// segment.
func TestMapAgreesWithLVM(t *testing.T) {
	for _, kind := range []string{"lvm", "lvm-var"} {
		t.Run(kind, func(t *testing.T) {
			image := testimages.Make(t, kind, t.TempDir())
			_, parts, err := chroot.ReadPartitions(image)
			if err != nil {
				t.Fatal(err)
			}
			pvPart := parts[len(parts)-1]
			loop, err := chroot.AttachLoop(image, pvPart.Start, pvPart.Size, true)
			if err != nil {
				t.Fatal(err)
			}
			defer loop.Detach()
			peStart := atoi(t, lvmReport(t, loop.Path, "pvs", "-o", "pe_start", loop.Path)[0][0])
			extent := atoi(t, lvmReport(t, loop.Path, "vgs", "-o", "vg_extent_size")[0][0])
			want := map[string][]string{} // vg/lv -> its segments' PE ranges
			for _, r := range lvmReport(t, loop.Path, "lvs", "-o", "vg_name,lv_name,seg_pe_ranges", "--segments") {
				want[r[0]+"/"+r[1]] = append(want[r[0]+"/"+r[1]], r[2])
			}

			f, err := os.Open(image)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			pv, err := lvm.ReadPV(lvm.Device{Name: kind, R: io.NewSectionReader(f, pvPart.Start, pvPart.Size), Size: pvPart.Size})
			if err != nil {
				t.Fatal(err)
			}
			vols, err := lvm.Map([]*lvm.PV{pv})
			if err != nil {
				t.Fatal(err)
			}
			if len(vols) != len(want) {
				t.Fatalf("Map gives %d LVs, lvs %d (%v)", len(vols), len(want), want)
			}
			for _, v := range vols {
				segs, ok := want[v.Name()]
				switch {
				case !ok:
					t.Errorf("%s: not in lvs", v.Name())
				case len(segs) > 1:
					if v.Err == nil {
						t.Errorf("%s: %d segments %v, mapped", v.Name(), len(segs), segs)
					}
				default:
					// "/dev/loopN:FIRST-LAST"
					rng := segs[0][strings.LastIndexByte(segs[0], ':')+1:]
					a, b, _ := strings.Cut(rng, "-")
					first, last := atoi(t, a), atoi(t, b)
					if v.Err != nil || v.Offset != peStart+first*extent || v.Size != (last-first+1)*extent {
						t.Errorf("%s: offset %d size %d (%v); lvs: %s, pe_start %d, extent %d", v.Name(), v.Offset, v.Size, v.Err, segs[0], peStart, extent)
					}
				}
			}
		})
	}
}
