package provenance

import (
	"context"
	"fmt"
	"os"
	"runtime"
)

// verifyWorkers is how many blocks VerifyData reads at once: more than the CPUs, so that a
// cold file's reads overlap.
var verifyWorkers = max(runtime.GOMAXPROCS(0), 8)

// VerifyData is Verify of every block, reading only the blocks that hold data in the file
// (SEEK_DATA) or a hash in the map: a hole the map says is zeros needs no reading. It returns
// the first block (in index order) that differs.
func (m *BlockMap) VerifyData(ctx context.Context, path string) error {
	return m.verify(ctx, path, func(f *os.File, want []bool) {
		for i, h := range m.Blocks {
			want[i] = h != ""
		}
		for _, r := range dataRanges(f, m.Size) {
			for b := r[0] / m.BlockSize; b*m.BlockSize < r[1] && b < int64(len(want)); b++ {
				want[b] = true
			}
		}
	})
}

// verify hashes the blocks pick marks, verifyWorkers at once, and returns the first (in index
// order) whose hash differs from the map.
func (m *BlockMap) verify(ctx context.Context, path string, pick func(f *os.File, want []bool)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() != m.Size {
		return fmt.Errorf("%s is %d bytes, its block map says %d", path, fi.Size(), m.Size)
	}
	want := make([]bool, len(m.Blocks))
	pick(f, want)
	var idx []int64
	for i, w := range want {
		if w {
			idx = append(idx, int64(i))
		}
	}
	got := &BlockMap{Size: m.Size, BlockSize: m.BlockSize, Blocks: make([]string, len(m.Blocks))}
	if err := got.hash(ctx, f, idx, verifyWorkers); err != nil {
		return err
	}
	for _, b := range idx {
		if got.Blocks[b] != m.Blocks[b] {
			return fmt.Errorf("%s: block %d (bytes %d-%d) does not match its block map", path, b, b*m.BlockSize, (b+1)*m.BlockSize-1)
		}
	}
	return nil
}
