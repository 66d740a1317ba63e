package provenance

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Beside finds and checks the record beside a file: none is no error; the working copy it
// maps (by its stamp, or block by block for a copy) and an output it names (by SHA-256) are
// described; a changed file is refused naming the block; the record's SHA-256 is that of
// its bytes. Refresh then maps the changed file, adds the changed blocks to Dirty (keeping
// those there) and updates an output naming it; AddCleanRuns keeps the runs already there.
func TestBesideAndRefresh(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	img := filepath.Join(dir, "w.raw")
	write := func(path string, off int64, s string) {
		t.Helper()
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := f.Truncate(6 * BlockSize); err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte(s), off); err != nil {
			t.Fatal(err)
		}
	}
	write(img, 10, "boot")
	if r, _, _, err := Beside(ctx, img); r != nil || err != nil {
		t.Fatalf("no record: %v %v", r, err)
	}
	m, err := Map(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	rec := New("chromogenic-local")
	rec.WorkingCopy, rec.Dirty = m, []int64{5}
	rec.Clean = CleanOf([]CleanRun{{Operations: []string{"machine-id"}, ReportSHA256: strings.Repeat("a", 64)}})
	if err := rec.Write(SidecarPath(img)); err != nil {
		t.Fatal(err)
	}
	r, path, sum, err := Beside(ctx, img)
	want, _, _ := FileSHA256(SidecarPath(img))
	if err != nil || r == nil || path != SidecarPath(img) || sum != want {
		t.Fatalf("beside: %v %s %s (want %s)", err, path, sum, want)
	}

	// A copy (another inode: its stamp does not match) is read block by block.
	cp := filepath.Join(t.TempDir(), "w.raw")
	b, _ := os.ReadFile(img)
	os.WriteFile(cp, b, 0o644)
	if err := r.Describes(ctx, cp); err != nil {
		t.Errorf("a copy: %v", err)
	}
	write(cp, 2*BlockSize+1, "changed")
	if err := r.Describes(ctx, cp); err == nil || !strings.Contains(err.Error(), "block 2 ") {
		t.Errorf("a changed copy: %v", err)
	}
	if err := r.Describes(ctx, filepath.Join(dir, "other.raw")); err == nil || !strings.Contains(err.Error(), "names no") {
		t.Errorf("another file: %v", err)
	}

	// An output (a convert's record) by its SHA-256.
	out := New("chromogenic-convert")
	o, err := FileOutput(img, "raw", 0)
	if err != nil {
		t.Fatal(err)
	}
	out.Outputs = []Output{o}
	if err := out.Describes(ctx, img); err != nil {
		t.Errorf("an output: %v", err)
	}
	if err := out.Describes(ctx, cp); err == nil || !strings.Contains(err.Error(), "the record says") {
		t.Errorf("a changed output: %v", err)
	}

	// The file changed in place (a clean): blocks 1 and 3.
	write(img, BlockSize+7, "one")
	write(img, 3*BlockSize+7, "three")
	if _, _, _, err := Beside(ctx, img); err == nil || !strings.Contains(err.Error(), "does not describe") {
		t.Fatalf("beside a changed file: %v", err)
	}
	n, err := r.Refresh(ctx, img)
	if err != nil || n != 2 || !slices.Equal(r.Dirty, []int64{1, 3, 5}) {
		t.Errorf("refresh: %d changed, dirty %v, %v", n, r.Dirty, err)
	}
	if err := r.WorkingCopy.Verify(ctx, img, nil); err != nil || r.WorkingCopy.Unchanged(img) != nil {
		t.Errorf("refreshed map: %v", err)
	}
	if n, err := out.Refresh(ctx, img); err != nil || n != 0 || out.Describes(ctx, img) != nil {
		t.Errorf("refreshed output: %d %v %v", n, err, out.Describes(ctx, img))
	}
	r.AddCleanRuns(CleanRun{Operations: []string{"logfiles", "machine-id"}, ReportSHA256: strings.Repeat("b", 64)})
	if c := r.Clean; !slices.Equal(c.Operations, []string{"machine-id", "logfiles"}) || len(c.Runs) != 2 || c.ReportSHA256 != strings.Repeat("b", 64) {
		t.Errorf("clean %+v", c)
	}
}

// FromFile: with no input record the source is the file, absolute; with one the record
// carries it over.
func TestFromFile(t *testing.T) {
	r := FromFile("p", nil, "", "", "rel.raw")
	if r.Source.Cloud != "local" || !filepath.IsAbs(r.Source.Path) || filepath.Base(r.Source.Path) != "rel.raw" {
		t.Errorf("%+v", r.Source)
	}
	in := New("b")
	in.Source = Source{Cloud: "openstack", Instance: "i"}
	r = FromFile("p", in, "/x.provenance.json", "sum", "/x")
	if r.Source.Instance != "i" || r.Input != "/x.provenance.json" || r.InputSHA256 != "sum" {
		t.Errorf("%+v", r)
	}
}
