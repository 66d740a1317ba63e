package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
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

// TestCapturePushRecordsEC2: push and capture write provenance records, checked against the
// files and the cloud. push --to aws writes IMAGE.push-aws.provenance.json (or --record's
// path): the source (the local file, or the source of IMAGE's own record, which is named),
// the snapshot and AMI made, and the block map of the disk pushed, which the snapshot read
// back matches block for block. capture writes OUTPUT.provenance.json: the snapshot read,
// OUTPUT's format, size and SHA-256 (checked against the file), the working copy's block map
// (checked against a raw OUTPUT, stamped; against a converted OUTPUT read as raw);
// info --provenance --verify agrees. A record beside IMAGE that no longer describes it stops
// a push before anything is made, unless --provenance=false, which writes none.
func TestCapturePushRecordsEC2(t *testing.T) {
	ctx := context.Background()
	srv := ec2emu.Start(t)
	emuEnv(t, srv)
	dir := t.TempDir()
	raw := filepath.Join(dir, "src.raw")
	const size = 24<<20 + 512
	makeRaw(t, raw, size)
	endpoints := []string{"--region", srv.Region, "--endpoint", srv.EC2Endpoint, "--ebs-endpoint", srv.EBSEndpoint}
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }

	// push: a file with no record of its own.
	stdout, stderr := cli(t, 0, append([]string{"push", "--to", "aws", raw, "--name", "rec-push", "--json"}, endpoints...)...)
	var res map[string]string
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v\n%s\n%s", err, stdout, stderr)
	}
	pushRec := raw + ".push-aws" + provenance.Suffix
	if res["provenance"] != abs(pushRec) {
		t.Errorf("push result %v, want its record %s", res, pushRec)
	}
	p1, err := provenance.Read(pushRec)
	mustOK(t, err)
	snap, ami := res["snapshot_id"], res["id"]
	if p1.Producer != "chromogenic push" || p1.Source.Cloud != "local" || p1.Source.Path != abs(raw) || p1.Input != "" ||
		!hasOutput(p1, "aws", "snapshot", snap) || !hasOutput(p1, "aws", "image", ami) {
		t.Errorf("push record: %+v", p1)
	}
	if p1.WorkingCopy == nil || p1.WorkingCopy.Path != abs(raw) || p1.WorkingCopy.Size != size {
		t.Fatalf("push record's block map: %+v", p1.WorkingCopy)
	}
	mustOK(t, p1.WorkingCopy.Verify(ctx, raw, nil))
	back := filepath.Join(dir, "snapshot.raw")
	mustOK(t, srv.WriteSnapshotFile(snap, back, size))
	if err := p1.WorkingCopy.VerifyData(ctx, back); err != nil {
		t.Errorf("the snapshot pushed does not match the push record's block map: %v", err)
	}
	os.Remove(back)

	// capture, raw: OUTPUT is the working copy.
	home := filepath.Join(dir, "home.raw")
	stdout, _ = cli(t, 0, append([]string{"capture", "--from", "aws", "--snapshot", snap, home, "--json"}, endpoints...)...)
	var cres map[string]any
	mustOK(t, json.Unmarshal([]byte(stdout), &cres))
	if cres["provenance"] != abs(provenance.SidecarPath(home)) {
		t.Errorf("capture result %v", cres)
	}
	c1, _ := readRecord(t, home)
	if c1.Producer != "chromogenic capture" || c1.Source.Cloud != "aws" || c1.Source.Region != srv.Region ||
		!slices.Equal(c1.Source.Snapshots, []string{snap}) || len(c1.Outputs) != 1 || c1.Outputs[0].Path != abs(home) ||
		c1.Outputs[0].Format != "raw" || c1.WorkingCopy == nil || c1.WorkingCopy.Path != abs(home) || c1.WorkingCopy.Stamp == nil {
		t.Errorf("capture record: %+v", c1)
	}
	checkOutputs(t, c1)
	// The snapshot is a whole GiB: the disk pushed, then zeros (the last block pushed was
	// partial: its hash differs).
	n := len(p1.WorkingCopy.Blocks)
	if len(c1.WorkingCopy.Blocks) < n || !slices.Equal(c1.WorkingCopy.Blocks[:n-1], p1.WorkingCopy.Blocks[:n-1]) ||
		slices.ContainsFunc(c1.WorkingCopy.Blocks[n:], func(h string) bool { return h != "" }) {
		t.Error("the capture's block map differs from the push's, of the same disk")
	}
	cli(t, 0, "info", "--provenance", home, "--verify")

	// capture, qcow2: the working copy is gone, its map describes OUTPUT's disk.
	q := filepath.Join(dir, "home.qcow2")
	cli(t, 0, append([]string{"capture", "--from", "aws", "--image", ami, "--format", "qcow2", q}, endpoints...)...)
	c2, _ := readRecord(t, q)
	if c2.Source.Image != ami || len(c2.Outputs) != 1 || c2.Outputs[0].Format != "qcow2" || c2.WorkingCopy == nil || c2.WorkingCopy.Path != "" {
		t.Errorf("qcow2 capture record: %+v", c2)
	}
	checkOutputs(t, &provenance.Record{Outputs: c2.Outputs})
	asRaw := filepath.Join(dir, "qcow2-as.raw")
	qemuImg(t, "convert", "-f", "qcow2", "-O", "raw", q, asRaw)
	if err := c2.WorkingCopy.VerifyData(ctx, asRaw); err != nil {
		t.Errorf("the qcow2 capture's block map: %v", err)
	}
	cli(t, 0, "info", "--provenance", q, "--verify")

	// push of the captured file, the record where --record says: the capture's record
	// carried over and named.
	custom := filepath.Join(dir, "records", "second-push.json")
	mustOK(t, os.MkdirAll(filepath.Dir(custom), 0o755))
	_, capSum := readRecord(t, home)
	stdout, _ = cli(t, 0, append([]string{"push", "--to", "aws", home, "--name", "rec-push-2", "--record", custom, "--json"}, endpoints...)...)
	res = nil
	mustOK(t, json.Unmarshal([]byte(stdout), &res))
	p2, err := provenance.Read(custom)
	mustOK(t, err)
	if _, err := os.Stat(home + ".push-aws" + provenance.Suffix); err == nil {
		t.Error("a record beside IMAGE as well as at --record")
	}
	if p2.Input+" " != strings.SplitN(capSum, " ", 2)[1]+" " || p2.InputSHA256 != strings.SplitN(capSum, " ", 2)[0] ||
		!slices.Equal(p2.Source.Snapshots, []string{snap}) || !hasOutput(p2, "aws", "snapshot", res["snapshot_id"]) ||
		p2.WorkingCopy == nil || p2.WorkingCopy.Path != abs(home) {
		t.Errorf("second push record: %+v (capture record %s)", p2, capSum)
	}
	mustOK(t, p2.WorkingCopy.Verify(ctx, home, nil))

	// A record that no longer describes IMAGE: nothing pushed, unless --provenance=false.
	f, err := os.OpenFile(home, os.O_WRONLY, 0)
	mustOK(t, err)
	_, err = f.WriteAt([]byte("changed"), 1<<20)
	mustOK(t, err)
	f.Close()
	images := srv.ImageIDs()
	_, stderr = cli(t, 1, append([]string{"push", "--to", "aws", home, "--name", "rec-push-3"}, endpoints...)...)
	if !strings.Contains(stderr, "does not describe") || !strings.Contains(stderr, "--provenance=false") {
		t.Errorf("push of a file its record no longer describes: %s", stderr)
	}
	if got := srv.ImageIDs(); !slices.Equal(got, images) {
		t.Errorf("images %v after a refused push, were %v", got, images)
	}
	stale := home + ".push-aws" + provenance.Suffix
	cli(t, 0, append([]string{"push", "--to", "aws", home, "--name", "rec-push-4", "--provenance=false"}, endpoints...)...)
	if _, err := os.Stat(stale); err == nil {
		t.Error("--provenance=false wrote a record")
	}

	// Where the record goes is settled before anything is pushed.
	for _, tc := range []struct {
		want string
		args []string
	}{
		{"--record and --provenance=false exclude each other", []string{"--record", custom, "--provenance=false"}},
		{"its directory does not exist", []string{"--record", filepath.Join(dir, "nodir", "r.json")}},
		{"IMAGE's own record", []string{"--record", provenance.SidecarPath(raw)}},
	} {
		_, stderr := cli(t, 2, append(append([]string{"push", "--to", "aws", raw, "--name", "never"}, tc.args...), endpoints...)...)
		if !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: %s, want %q", tc.args, stderr, tc.want)
		}
	}
	if got := srv.ImageIDs(); len(got) != len(images)+1 {
		t.Errorf("images %v", got)
	}
}

// hasOutput tells whether the record names the cloud object.
func hasOutput(r *provenance.Record, cloud, kind, id string) bool {
	return slices.ContainsFunc(r.Outputs, func(o provenance.Output) bool {
		return o.Cloud == cloud && o.Kind == kind && o.ID == id && id != ""
	})
}
