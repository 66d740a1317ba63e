package provenance

import (
	"context"
	"os"
)

// VerifyData is Verify of every block, reading only the blocks that hold data in the file
// (SEEK_DATA) or a hash in the map: a hole the map says is zeros needs no reading.
func (m *BlockMap) VerifyData(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	want := make([]bool, len(m.Blocks))
	for i, h := range m.Blocks {
		want[i] = h != ""
	}
	for _, r := range dataRanges(f, fi.Size()) {
		for b := r[0] / m.BlockSize; b*m.BlockSize < r[1] && b < int64(len(want)); b++ {
			want[b] = true
		}
	}
	f.Close()
	idx := []int64{}
	for i, w := range want {
		if w {
			idx = append(idx, int64(i))
		}
	}
	if fi.Size() != m.Size || len(idx) == 0 {
		idx = nil // Verify reports the size, or checks every block of an empty map
	}
	return m.Verify(ctx, path, idx)
}
