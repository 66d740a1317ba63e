package ec2

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// TestRecaptureSeveralDisks runs the capture steps (StepCreateImage, StepDownload,
// StepRecordWorkingCopy) twice on an instance of three EBS disks with disks = "all". The
// first build changes a block of disk 2's working copy (as a provisioner would): the record
// lists it in other_dirty. Then the instance's disk 2 becomes that working copy with one
// more block changed, and a block of disk 3 changes; the second capture, with the first
// record as its base, recaptures each disk from the base's disk at the same device and reads
// only the changed and dirty blocks; every working copy is byte-equal to its new snapshot
// read in full. A base that does not say which blocks of the other disks its build changed
// (a record made before other_dirty) gets those disks read in full, still byte-equal.
func TestRecaptureSeveralDisks(t *testing.T) {
	fastPoll(t)
	srv := emulator(t)
	dir := t.TempDir()
	root, sdf, sdg := filepath.Join(dir, "root.raw"), filepath.Join(dir, "sdf.raw"), filepath.Join(dir, "sdg.raw")
	packertest.RandomDisk(t, root, 64, 6, 1, 0)
	packertest.RandomDisk(t, sdf, 64, 4, 2, 0)
	packertest.RandomDisk(t, sdg, 64, 5, 3, 0)
	iid, err := srv.AddInstance(ec2emu.Instance{Name: "db", RootDisk: root,
		DataDisks: []ec2emu.Disk{{Device: "/dev/sdf", Path: sdf}, {Device: "/dev/sdg", Path: sdg}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	// capture runs the steps into dir/<name>/c.raw; change, if set, changes the working copies
	// before the record is brought up to date.
	capture := func(name string, base *provenance.Record, basePath string, change func(paths []string)) ([]string, *provenance.Record, string) {
		t.Helper()
		state, cl, out := stepState(t, srv)
		inst, err := cloud.FindInstance(ctx, cl.EC2, iid, cloud.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		state.Put("instance", inst)
		c := &Config{NoReboot: true, Disks: DisksAll, KeepCaptureSnapshot: true, baseRecord: base, BaseProvenance: basePath}
		c.StateTimeout = time.Minute
		state.Put("config", c)
		target := filepath.Join(dir, name, "c.raw")
		os.MkdirAll(filepath.Dir(target), 0o755)
		steps := []multistep.Step{&StepCreateImage{Config: c}, &StepDownload{Config: c, Target: target}}
		for _, st := range steps {
			if a := st.Run(ctx, state); a != multistep.ActionContinue {
				t.Fatalf("%s: %T: %v\n%s", name, st, a, out.String())
			}
		}
		paths := state.Get(bcommon.StateWorkingImages).([]string)
		if change != nil {
			change(paths)
		}
		if a := (&StepRecordWorkingCopy{}).Run(ctx, state); a != multistep.ActionContinue {
			t.Fatalf("%s: StepRecordWorkingCopy: %v\n%s", name, a, out.String())
		}
		for i := len(steps) - 1; i >= 0; i-- {
			steps[i].Cleanup(state)
		}
		rec, err := provenance.Read(provenance.SidecarPath(paths[0]))
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.Source.Snapshots) != 3 || len(rec.Source.Devices) != 3 || len(rec.OtherDisks) != 2 || len(rec.OtherDirty) != 2 {
			t.Fatalf("%s: record source %+v, %d other disks, other_dirty %v", name, rec.Source, len(rec.OtherDisks), rec.OtherDirty)
		}
		for i, p := range paths {
			full := filepath.Join(dir, name, "full.raw")
			if err := srv.WriteSnapshotFile(rec.Source.Snapshots[i], full, 0); err != nil {
				t.Fatal(err)
			}
			if i > 0 && change != nil {
				continue // changed after the capture
			}
			if !packertest.SameBytes(t, p, full) {
				t.Errorf("%s: working copy %s differs from its snapshot %s (%s)", name, p, rec.Source.Snapshots[i], rec.Source.Devices[i])
			}
		}
		return paths, rec, out.String()
	}
	scribble := func(path string, block int64, b byte) {
		t.Helper()
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt(bytes.Repeat([]byte{b}, 4096), block*provenance.BlockSize+8192); err != nil {
			t.Fatal(err)
		}
	}

	wc1, rec1, _ := capture("first", nil, "", func(paths []string) { scribble(paths[1], 7, 0x11) })
	if rec1.Source.Devices[1] != "/dev/sdf" || len(rec1.OtherDirty[0]) != 1 || rec1.OtherDirty[0][0] != 7 || len(rec1.OtherDirty[1]) != 0 {
		t.Fatalf("first record: devices %v, other_dirty %v", rec1.Source.Devices, rec1.OtherDirty)
	}
	rec1Path := provenance.SidecarPath(wc1[0])

	// The instance changes: disk 2 becomes the first build's working copy plus one block;
	// one block of disk 3 changes; the root stays.
	packertest.CopySparse(t, wc1[1], sdf)
	scribble(sdf, 20, 0x22)
	scribble(sdg, 30, 0x33)
	_, rec2, out := capture("second", rec1, rec1Path, nil)
	for _, what := range []string{"root", "disk 2, /dev/sdf", "disk 3, /dev/sdg"} {
		m := regexp.MustCompile(regexp.QuoteMeta(what) + `: (\d+) blocks changed since snap-\w+, (\d+) read`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("%s was not recaptured:\n%s", what, out)
		}
		want := map[string]string{"root": "0", "disk 2, /dev/sdf": "2", "disk 3, /dev/sdg": "1"}[what]
		if m[2] != want {
			t.Errorf("%s: %s blocks read, want %s (the changed and dirty ones)", what, m[2], want)
		}
	}
	if rec2.Base == "" || strings.Contains(out, "Falling back") {
		t.Errorf("second record's base %q\n%s", rec2.Base, out)
	}

	// A base record made before other_dirty: its other disks are read in full.
	old := *rec1
	old.OtherDirty = nil
	oldPath := filepath.Join(dir, "old.provenance.json")
	if err := old.Write(oldPath); err != nil {
		t.Fatal(err)
	}
	_, _, out = capture("third", &old, oldPath, nil)
	if !strings.Contains(out, "disk 2, /dev/sdf: downloaded in full (the base does not say which blocks of /dev/sdf its build changed)") ||
		!regexp.MustCompile(`root: \d+ blocks changed since`).MatchString(out) {
		t.Errorf("a base without other_dirty:\n%s", out)
	}
}
