package packertest

import (
	"math/rand"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
)

// ChangeFreeBlocks writes a random 4 KiB piece into each of up to six 512 KiB blocks of zeros
// (free space, with zeros on either side) between 45% and 90% of the raw disk at path, and
// returns those blocks: a source that changed in scattered places since an earlier capture.
func ChangeFreeBlocks(t testing.TB, path string, seed int64) []int64 {
	t.Helper()
	m, err := provenance.Map(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	var changed []int64
	n := m.Count()
	for b := n * 45 / 100; b < n*90/100 && len(changed) < 6; b += n / 16 {
		for c := b; c < b+n/32; c++ {
			if m.Blocks[c-1] == "" && m.Blocks[c] == "" && m.Blocks[c+1] == "" {
				changed = append(changed, c)
				break
			}
		}
	}
	if len(changed) < 4 {
		t.Fatalf("only %d free blocks of %s found to change", len(changed), path)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	piece := make([]byte, 4096)
	rng := rand.New(rand.NewSource(seed))
	for _, b := range changed {
		rng.Read(piece)
		if _, err := f.WriteAt(piece, b*provenance.BlockSize+8192); err != nil {
			t.Fatal(err)
		}
	}
	return changed
}

// CheckUpdatedOverBase checks a build that brought its source home over the base record at
// basePath (base, read before the build): its output says it wrote exactly the blocks changed
// in the source since and the base's dirty blocks, of the source's total; its working copy wc
// is byte-equal to source; its record names the base, lists no dirty block (nothing wrote the
// copy after the download) and maps wc; the base's working copy was not written. It returns
// the new record.
func CheckUpdatedOverBase(t testing.TB, output string, changed []int64, base *provenance.Record, basePath, wc, source string) *provenance.Record {
	t.Helper()
	mm := regexp.MustCompile(`Updated over the base \S+: (\d+) of (\d+) blocks written`).FindStringSubmatch(output)
	if mm == nil {
		t.Fatalf("no update line in the output:\n%s", output)
	}
	written, _ := strconv.Atoi(mm[1])
	total, _ := strconv.Atoi(mm[2])
	want := map[int64]bool{}
	for _, b := range append(append([]int64(nil), changed...), base.Dirty...) {
		want[b] = true
	}
	if int64(total) != base.WorkingCopy.Count() || written != len(want) || written*20 > total {
		t.Errorf("%d of %d blocks written; want the %d changed or dirty of %d", written, total, len(want), base.WorkingCopy.Count())
	}
	t.Logf("%s: %d changed in the source, %d dirty in the base", mm[0], len(changed), len(base.Dirty))
	if !SameBytes(t, wc, source) {
		t.Errorf("the updated working copy %s differs from its source %s", wc, source)
	}
	rec, err := provenance.Read(provenance.SidecarPath(wc))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Base != basePath || len(rec.Dirty) != 0 {
		t.Errorf("the new record: base %q (want %s), dirty %v", rec.Base, basePath, rec.Dirty)
	}
	if err := rec.WorkingCopy.Verify(t.Context(), wc, nil); err != nil {
		t.Errorf("the new record's map: %v", err)
	}
	if err := base.WorkingCopy.Unchanged(base.WorkingCopy.Path); err != nil {
		t.Errorf("the base was written: %v", err)
	}
	return rec
}
