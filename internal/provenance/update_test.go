package provenance

import (
	"bytes"
	"context"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// updateDisk is a 24-block disk: data in blocks 0-5, 8, 12 (half of it) and 20-23, holes
// elsewhere.
func updateDisk(seed int64) []byte {
	r := rand.New(rand.NewSource(seed))
	d := make([]byte, 24*BlockSize)
	for _, b := range []int64{0, 1, 2, 3, 4, 5, 8, 20, 21, 22, 23} {
		r.Read(d[b*BlockSize : (b+1)*BlockSize])
	}
	r.Read(d[12*BlockSize : 12*BlockSize+BlockSize/2])
	return d
}

func writeFile(t *testing.T, path string, d []byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(int64(len(d))); err != nil {
		t.Fatal(err)
	}
	// Sparse: only the non-zero 4 KiB blocks are written.
	for i := 0; i < len(d); i += 4096 {
		b := d[i:min(i+4096, len(d))]
		if !bytes.Equal(b, make([]byte, len(b))) {
			if _, err := f.WriteAt(b, int64(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// feed writes d into u as a sparse in-order source does: Truncate first (or last), then
// chunks of chunk bytes, all-zero 4 KiB blocks not written.
func feed(t *testing.T, u *Update, d []byte, chunk int, truncLast bool) {
	t.Helper()
	if !truncLast {
		if err := u.Truncate(int64(len(d))); err != nil {
			t.Fatal(err)
		}
	}
	for off := 0; off < len(d); off += chunk {
		c := d[off:min(off+chunk, len(d))]
		for i := 0; i < len(c); i += 4096 {
			b := c[i:min(i+4096, len(c))]
			if bytes.Equal(b, make([]byte, len(b))) {
				continue
			}
			if _, err := u.WriteAt(b, int64(off+i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if truncLast {
		if err := u.Truncate(int64(len(d))); err != nil {
			t.Fatal(err)
		}
	}
}

// counting wraps an Update's writes and punches: which blocks it touched.
func counting(u *Update) map[int64]bool {
	touched := map[int64]bool{}
	w, p := u.writeAt, u.punch
	u.writeAt = func(b []byte, off int64) error {
		for x := off / BlockSize; x*BlockSize < off+int64(len(b)); x++ {
			touched[x] = true
		}
		return w(b, off)
	}
	u.punch = func(off, n int64) error { touched[off/BlockSize] = true; return p(off, n) }
	return touched
}

// TestUpdate: over a base, the new disk is byte-equal to the new stream; only the blocks
// whose content differs are written (counted at the file): a changed block, a block that
// became zeros (punched, not skipped: the copy held the base's data there), a block that got
// data, a half block; the map made on the way equals Map of the result. The new disk is
// shorter, then longer, than the base, its size set before or after the writes.
func TestUpdate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	old := updateDisk(1)
	basePath := filepath.Join(dir, "base.raw")
	writeFile(t, basePath, old)
	base, err := Map(ctx, basePath)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewSource(2))
	changed := append([]byte(nil), old...)
	r.Read(changed[3*BlockSize+100 : 3*BlockSize+200])   // changed data
	clear(changed[5*BlockSize : 6*BlockSize])            // became zeros
	r.Read(changed[10*BlockSize : 10*BlockSize+4096])    // a hole got data
	r.Read(changed[12*BlockSize+BlockSize/2+8192:][:16]) // the zero half of a half block
	want := map[int64]bool{3: true, 5: true, 10: true, 12: true}

	for _, tc := range []struct {
		name      string
		d         []byte
		want      map[int64]bool
		truncLast bool
		chunk     int
	}{
		{"same size, size first", changed, want, false, 4 << 20},
		{"same size, size last, small chunks", changed, want, true, 12288},
		{"shorter, ends in a half block", changed[:17*BlockSize+1000], map[int64]bool{3: true, 5: true, 10: true, 12: true}, false, 1 << 20},
		{"longer", append(append([]byte(nil), changed...), bytes.Repeat([]byte{7}, 3*BlockSize+512)...), map[int64]bool{3: true, 5: true, 10: true, 12: true, 24: true, 25: true, 26: true, 27: true}, true, 1 << 20},
		{"unchanged", old, map[int64]bool{}, false, 4 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "new.raw")
			f, err := os.Create(dst)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			u, err := NewUpdate(ctx, f, basePath, base)
			if err != nil {
				t.Fatal(err)
			}
			touched := counting(u)
			feed(t, u, tc.d, tc.chunk, tc.truncLast)
			m, st, err := u.Finish()
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(dst)
			if !bytes.Equal(got, tc.d) {
				t.Fatalf("the updated copy differs from the new disk (%d bytes, want %d)", len(got), len(tc.d))
			}
			if len(touched) != len(tc.want) || int(st.Written) != len(tc.want) {
				t.Errorf("blocks written %v (stats %d), want %v", touched, st.Written, tc.want)
			}
			for b := range tc.want {
				if !touched[b] {
					t.Errorf("block %d differs but was not written", b)
				}
			}
			if st.Blocks != int64(len(m.Blocks)) || !st.Trusted {
				t.Errorf("stats %+v", st)
			}
			again, err := Map(ctx, dst)
			if err != nil {
				t.Fatal(err)
			}
			if m.Size != again.Size || strings.Join(m.Blocks, ",") != strings.Join(again.Blocks, ",") {
				t.Errorf("the map made on the way differs from Map of the result")
			}
			if bytes.Equal(tc.d, changed) && st.Zeroed != 1 {
				t.Errorf("%d blocks zeroed, want 1 (block 5)", st.Zeroed)
			}
		})
	}
	after, _ := os.ReadFile(basePath)
	if !bytes.Equal(after, old) {
		t.Fatal("the base was written")
	}
}

// TestUpdateBase: a base written since its map was made is checked block by block (a
// corrupted block is a *BaseError naming it; a rewrite with the same bytes passes); a map of
// another block size is refused; out-of-order writes and a missing size are errors.
func TestUpdateBase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	old := updateDisk(3)
	basePath := filepath.Join(dir, "base.raw")
	writeFile(t, basePath, old)
	base, err := Map(ctx, basePath)
	if err != nil {
		t.Fatal(err)
	}
	if base.Stamp == nil {
		t.Skip("no stamps here")
	}
	newFile := func() *os.File {
		f, err := os.Create(filepath.Join(t.TempDir(), "new.raw"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	// Rewritten with the same bytes: the stamp no longer matches, the check passes.
	w, _ := os.OpenFile(basePath, os.O_WRONLY, 0)
	w.WriteAt(old[:10], 0)
	u, err := NewUpdate(ctx, newFile(), basePath, base)
	if err != nil || u.st.Trusted || u.st.Untrusted == "" {
		t.Fatalf("base rewritten unchanged: %v, stats %+v", err, u.st)
	}
	// One flipped byte in block 21.
	w.WriteAt([]byte{old[21*BlockSize+77] ^ 1}, 21*BlockSize+77)
	w.Close()
	_, err = NewUpdate(ctx, newFile(), basePath, base)
	var be *BaseError
	if !errors.As(err, &be) || !strings.Contains(err.Error(), "block 21 ") {
		t.Fatalf("corrupted base: %v", err)
	}
	other := *base
	other.BlockSize = 4096
	if _, err := NewUpdate(ctx, newFile(), basePath, &other); !errors.As(err, &be) {
		t.Errorf("block size 4096: %v", err)
	}

	u = NewMapWriter(newFile())
	if _, err := u.WriteAt([]byte{1}, 3*BlockSize); err != nil {
		t.Fatal(err)
	}
	if _, err := u.WriteAt([]byte{1}, BlockSize); err == nil {
		t.Error("a write back into a passed block was taken")
	}
	if _, _, err := u.Finish(); err == nil {
		t.Error("Finish without a size")
	}
	u = NewMapWriter(newFile())
	u.Truncate(BlockSize)
	if _, err := u.WriteAt([]byte{1, 2}, BlockSize-1); err == nil {
		t.Error("a write past the size was taken")
	}
}

// TestMapWriter: without a base the file is written sparsely and the map equals Map's.
func TestMapWriter(t *testing.T) {
	ctx := context.Background()
	d := updateDisk(4)
	f, err := os.Create(filepath.Join(t.TempDir(), "new.raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := NewMapWriter(f)
	touched := counting(u)
	feed(t, u, d, 1<<20, false)
	m, st, err := u.Finish()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(f.Name())
	if !bytes.Equal(got, d) {
		t.Fatal("differs")
	}
	want, _ := Map(ctx, f.Name())
	if strings.Join(m.Blocks, ",") != strings.Join(want.Blocks, ",") || len(touched) != 12 || st.Written != 12 {
		t.Errorf("map or writes: %d blocks touched, stats %+v", len(touched), st)
	}
	if st.Bytes != 11*BlockSize+BlockSize/2 {
		t.Errorf("%d bytes written, want only the data", st.Bytes)
	}
}
