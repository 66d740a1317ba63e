package provenance

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
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

// verify reads the blocks pick marks, verifyWorkers at once, and returns the first (in index
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
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		bad   = int64(-1)
		first error
		wg    sync.WaitGroup
	)
	ch := make(chan int64)
	for range verifyWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, m.BlockSize)
			for b := range ch {
				h, err := blockHash(f, buf, b*m.BlockSize, m.Size)
				mu.Lock()
				switch {
				case err != nil && first == nil:
					first = err
					cancel()
				case err == nil && h != m.Blocks[b] && (bad < 0 || b < bad):
					bad = b
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for i, w := range want {
		if !w {
			continue
		}
		select {
		case ch <- int64(i):
		case <-ctx.Done():
			break feed
		}
	}
	close(ch)
	wg.Wait()
	if first != nil {
		return first
	}
	if bad >= 0 {
		return fmt.Errorf("%s: block %d (bytes %d-%d) does not match its block map", path, bad, bad*m.BlockSize, (bad+1)*m.BlockSize-1)
	}
	return ctx.Err()
}
