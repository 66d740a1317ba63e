package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
)

// readRecord reads the record beside path; it fails the test if there is none.
func readRecord(t *testing.T, path string) (*provenance.Record, string) {
	t.Helper()
	rec := provenance.SidecarPath(path)
	r, err := provenance.Read(rec)
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(rec)
	sum, _, err := provenance.FileSHA256(rec)
	mustOK(t, err)
	return r, sum + " " + abs
}

// checkOutputs checks that each output file the record names is there with its size and
// SHA-256, and that its block maps match the files they name.
func checkOutputs(t *testing.T, r *provenance.Record) {
	t.Helper()
	for _, o := range r.Outputs {
		sum, size, err := provenance.FileSHA256(o.Path)
		if err != nil || sum != o.SHA256 || size != o.Size {
			t.Errorf("output %s: sha256 %s, %d bytes (%v); the record says %s, %d bytes", o.Path, sum, size, err, o.SHA256, o.Size)
		}
	}
	for _, m := range append([]*provenance.BlockMap{r.WorkingCopy}, r.OtherDisks...) {
		if m != nil {
			if err := m.Verify(context.Background(), m.Path, nil); err != nil {
				t.Errorf("block map: %v", err)
			}
		}
	}
}

// TestConvertProvenance: convert writes OUT's record as chromogenic-convert does: from the
// record beside IN (checked against IN: by its stamp, by reading every block of a copy, by
// an output's SHA-256), named with its path and SHA-256, the source and block map carried
// over; OUT's format, size and SHA-256. With no record the source is IN. A record that no
// longer describes IN stops the conversion before anything is written, unless
// --provenance=false; standard output gets no record.
func TestConvertProvenance(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "work.raw")
	makeRaw(t, src, 8<<20)
	m, err := provenance.Map(ctx, src)
	mustOK(t, err)
	built := provenance.New("chromogenic-openstack")
	built.Source = provenance.Source{Cloud: "openstack", Instance: "srv-1", Snapshots: []string{"snap-1"}}
	built.WorkingCopy = m
	built.Clean = provenance.CleanOf([]provenance.CleanRun{{Operations: []string{"machine-id"}, ReportSHA256: strings.Repeat("ab", 32)}})
	mustOK(t, built.Write(provenance.SidecarPath(src)))

	check := func(out, format string, in string) *provenance.Record {
		t.Helper()
		r, _ := readRecord(t, out)
		_, inRec := readRecord(t, in)
		abs, _ := filepath.Abs(out)
		if r.Producer != "chromogenic convert" || r.InputSHA256+" "+r.Input != inRec {
			t.Errorf("%s: producer %s, input %s %s; want %s", out, r.Producer, r.InputSHA256, r.Input, inRec)
		}
		if r.Source.Instance != "srv-1" || r.WorkingCopy == nil || r.WorkingCopy.Path != src || r.Clean == nil || r.Clean.Operations[0] != "machine-id" {
			t.Errorf("%s: not carried over from the input's record: %+v", out, r)
		}
		if len(r.Outputs) != 1 || r.Outputs[0].Path != abs || r.Outputs[0].Format != format {
			t.Errorf("%s: outputs %+v", out, r.Outputs)
		}
		checkOutputs(t, r)
		return r
	}
	// The working copy as it was mapped (its stamp), then a convert's output (its SHA-256).
	q := filepath.Join(dir, "a.qcow2")
	cli(t, 0, "convert", src, q, "-O", "qcow2")
	check(q, "qcow2", src)
	v := filepath.Join(dir, "b.vhd")
	cli(t, 0, "convert", q, v, "-O", "vpc")
	check(v, "vhd", q)
	stdout, _ := cli(t, 0, "info", "--provenance", "--verify", v)
	if strings.Count(stdout, ": ok") != 2 {
		t.Errorf("info --verify:\n%s", stdout)
	}
	// A copy of the working copy, with its record: no stamp of it, every block read.
	cp := filepath.Join(t.TempDir(), "work.raw")
	for _, p := range []string{src, provenance.SidecarPath(src)} {
		if out, err := exec.Command("cp", "--sparse=always", p, filepath.Join(filepath.Dir(cp), filepath.Base(p))).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
	}
	cq := filepath.Join(dir, "copy.qcow2")
	cli(t, 0, "convert", cp, cq, "-O", "qcow2")
	check(cq, "qcow2", cp)

	// With no record beside IN, the source is IN.
	plain := filepath.Join(dir, "plain.raw")
	makeRaw(t, plain, 4<<20)
	pv := filepath.Join(dir, "plain.vmdk")
	cli(t, 0, "convert", plain, pv, "-O", "vmdk")
	r, _ := readRecord(t, pv)
	if r.Input != "" || r.Source.Cloud != "local" || r.Source.Path != plain || r.WorkingCopy != nil || len(r.Outputs) != 1 {
		t.Errorf("record of a conversion with no input record: %+v", r)
	}
	checkOutputs(t, r)

	// Standard output: no record.
	cli(t, 0, "convert", src, "-", "-O", "raw")
	if _, err := os.Stat(provenance.SidecarPath("-")); !os.IsNotExist(err) {
		t.Errorf("a record for standard output: %v", err)
	}

	// IN changed after its record: refused, naming the record; nothing written.
	f, err := os.OpenFile(cp, os.O_WRONLY, 0)
	mustOK(t, err)
	_, err = f.WriteAt([]byte("changed"), 3*provenance.BlockSize+5)
	f.Close()
	mustOK(t, err)
	bad := filepath.Join(dir, "bad.qcow2")
	_, stderr := cli(t, 1, "convert", cp, bad, "-O", "qcow2")
	if !strings.Contains(stderr, provenance.SidecarPath(cp)+" does not describe") || !strings.Contains(stderr, "block 3 ") {
		t.Errorf("stale record: %s", stderr)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Errorf("output written after a stale record: %v", err)
	}
	cli(t, 0, "convert", cp, bad, "-O", "qcow2", "--provenance=false")
	if _, err := os.Stat(provenance.SidecarPath(bad)); !os.IsNotExist(err) {
		t.Errorf("--provenance=false wrote a record: %v", err)
	}
}

// TestCleanImageProvenance: clean --image writes the image's record (a new one, producer
// chromogenic clean, its block map and the run's operations and report digest), then brings
// it up to date on the next run (the block map, the blocks changed added to dirty, the runs
// added); convert carries it on. A record that no longer describes the image stops the
// clean before the image is touched; --dry-run and --provenance=false leave it alone.
func TestCleanImageProvenance(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (loop devices, mounts)")
	}
	dir := t.TempDir()
	img := testimages.Make(t, "mbr-boot", dir)
	rep1, rep2 := filepath.Join(dir, "r1.json"), filepath.Join(dir, "r2.json")
	_, stderr := runClean(t, 0, "--image", img, "--ops", "machine-id,bash-history", "--report", rep1)
	if !strings.Contains(stderr, "provenance record "+provenance.SidecarPath(img)+" written") {
		t.Errorf("stderr: %s", stderr)
	}
	r1, _ := readRecord(t, img)
	if r1.Producer != "chromogenic clean" || r1.Source.Cloud != "local" || r1.Source.Path != img || r1.WorkingCopy == nil || len(r1.Dirty) != 0 {
		t.Errorf("first record: %+v", r1)
	}
	sum1, _, _ := provenance.FileSHA256(rep1)
	if c := r1.Clean; c == nil || !slices.Equal(c.Operations, []string{"bash-history", "machine-id"}) || c.ReportSHA256 != sum1 ||
		len(c.Runs) != 1 || c.Runs[0].Report != rep1 {
		t.Errorf("first record's clean: %+v, want report %s %s", r1.Clean, sum1, rep1)
	}
	checkOutputs(t, r1)

	// A dry run changes nothing, the record neither.
	before, _ := os.ReadFile(provenance.SidecarPath(img))
	runClean(t, 0, "--image", img, "--ops", "logfiles", "--dry-run")
	if after, _ := os.ReadFile(provenance.SidecarPath(img)); string(after) != string(before) {
		t.Error("a dry run changed the record")
	}

	_, stderr = runClean(t, 0, "--image", img, "--ops", "logfiles,machine-id", "--report", rep2)
	if !strings.Contains(stderr, "updated (") {
		t.Errorf("stderr: %s", stderr)
	}
	r2, _ := readRecord(t, img)
	changed, err := r2.WorkingCopy.Changed(r1.WorkingCopy)
	mustOK(t, err)
	sum2, _, _ := provenance.FileSHA256(rep2)
	if r2.Producer != "chromogenic clean" || r2.Created != r1.Created || len(changed) == 0 || !slices.Equal(r2.Dirty, changed) {
		t.Errorf("updated record: producer %s, created %s (was %s), dirty %v, want %v", r2.Producer, r2.Created, r1.Created, r2.Dirty, changed)
	}
	if c := r2.Clean; c == nil || !slices.Equal(c.Operations, []string{"bash-history", "machine-id", "logfiles"}) || c.ReportSHA256 != sum2 ||
		len(c.Runs) != 2 || c.Runs[0].ReportSHA256 != sum1 {
		t.Errorf("updated record's clean: %+v", r2.Clean)
	}
	checkOutputs(t, r2)

	// convert carries the record on.
	q := filepath.Join(dir, "cleaned.qcow2")
	cli(t, 0, "convert", img, q, "-O", "qcow2")
	rq, _ := readRecord(t, q)
	if rq.Clean == nil || rq.Clean.ReportSHA256 != sum2 || !slices.Equal(rq.Dirty, nil) || rq.WorkingCopy == nil {
		t.Errorf("convert's record: %+v", rq)
	}
	checkOutputs(t, rq)

	// The image written behind the record's back: refused before anything is touched.
	f, err := os.OpenFile(img, os.O_WRONLY, 0)
	mustOK(t, err)
	_, err = f.WriteAt([]byte("x"), r2.WorkingCopy.Size-1)
	f.Close()
	mustOK(t, err)
	before, _ = os.ReadFile(provenance.SidecarPath(img))
	_, stderr = runClean(t, 1, "--image", img, "--ops", "machine-id")
	if !strings.Contains(stderr, "does not describe") || !strings.Contains(stderr, "--provenance=false") {
		t.Errorf("stale record: %s", stderr)
	}
	runClean(t, 0, "--image", img, "--ops", "machine-id", "--provenance=false")
	if after, _ := os.ReadFile(provenance.SidecarPath(img)); string(after) != string(before) {
		t.Error("--provenance=false changed the record")
	}
}
