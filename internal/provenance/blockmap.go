package provenance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
)

// BlockSize is EBS's block size, so a block map is also a snapshot's block list.
const BlockSize = 512 << 10

// BlockMap is the SHA-256 of each BlockSize block of a disk image; a block of zeros (a hole,
// or written zeros) is "".
type BlockMap struct {
	Path      string   `json:"path,omitempty"`
	Size      int64    `json:"size"`
	BlockSize int64    `json:"block_size"`
	Blocks    []string `json:"blocks"`
	// Stamp, when set, says which file the map was made of and that it has not been written
	// since (see Stamp); a map without one is checked by reading the file.
	Stamp *Stamp `json:"stamp,omitempty"`
}

func (m *BlockMap) check() error {
	if m.BlockSize <= 0 || m.BlockSize%512 != 0 || m.Size < 0 {
		return fmt.Errorf("block map of %s: block size %d, size %d", m.Path, m.BlockSize, m.Size)
	}
	if want := (m.Size + m.BlockSize - 1) / m.BlockSize; int64(len(m.Blocks)) != want {
		return fmt.Errorf("block map of %s: %d blocks for %d bytes, want %d", m.Path, len(m.Blocks), m.Size, want)
	}
	for i, h := range m.Blocks {
		if h != "" && (len(h) != 64 || !isHex(h)) {
			return fmt.Errorf("block map of %s: block %d hash %.70q", m.Path, i, h)
		}
	}
	return nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// Count is the number of blocks.
func (m *BlockMap) Count() int64 { return int64(len(m.Blocks)) }

// Map hashes the file at path block by block; holes are skipped without reading.
func Map(ctx context.Context, path string) (*BlockMap, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	m := &BlockMap{Path: path, Size: fi.Size(), BlockSize: BlockSize}
	n := (m.Size + BlockSize - 1) / BlockSize
	m.Blocks = make([]string, n)
	idx := make([]int64, 0, n)
	for _, r := range dataRanges(f, m.Size) {
		for b := r[0] / BlockSize; b*BlockSize < r[1]; b++ {
			if len(idx) == 0 || idx[len(idx)-1] != b {
				idx = append(idx, b)
			}
		}
	}
	before, serr := statStamp(path)
	if err := m.hash(ctx, f, idx, 0); err != nil {
		return nil, fmt.Errorf("block map of %s: %w", path, err)
	}
	// Stamped only when nothing wrote the file while it was read.
	if after, err := settledStamp(path); serr == nil && err == nil && after == before && after.Size == m.Size {
		m.Stamp = &after
	}
	return m, nil
}

// Update rehashes the blocks idx of the file (after they were rewritten) and the size. The
// stamp is dropped: SetStamp when the map describes the whole file again.
func (m *BlockMap) Update(ctx context.Context, idx []int64) error {
	m.Stamp = nil
	f, err := os.Open(m.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	return m.hash(ctx, f, idx, 0)
}

// hash sets m.Blocks[i] for each i in idx, reading with workers goroutines (0: one per CPU).
func (m *BlockMap) hash(ctx context.Context, f *os.File, idx []int64, workers int) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ch := make(chan int64)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, m.BlockSize)
			for b := range ch {
				h, err := blockHash(f, buf, b*m.BlockSize, m.Size)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					continue
				}
				m.Blocks[b] = h
			}
		}()
	}
	for _, b := range idx {
		if ctx.Err() != nil {
			break
		}
		ch <- b
	}
	close(ch)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

func blockHash(f *os.File, buf []byte, off, size int64) (string, error) {
	n := int64(len(buf))
	if off+n > size {
		n = size - off
	}
	if _, err := f.ReadAt(buf[:n], off); err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	if diskimage.IsZero(buf[:n]) {
		return "", nil
	}
	s := sha256.Sum256(buf[:n])
	return hex.EncodeToString(s[:]), nil
}

// Changed lists the blocks of m that differ from base (blocks beyond base's end count as
// changed). The two maps must have the same block size.
func (m *BlockMap) Changed(base *BlockMap) ([]int64, error) {
	if base.BlockSize != m.BlockSize {
		return nil, fmt.Errorf("block sizes differ: %d and %d", m.BlockSize, base.BlockSize)
	}
	var out []int64
	for i, h := range m.Blocks {
		if i >= len(base.Blocks) || base.Blocks[i] != h {
			out = append(out, int64(i))
		}
	}
	return out, nil
}

// Verify checks the blocks idx of the file at path against the map (every block when idx is
// nil: VerifyData) and returns the first that differs.
func (m *BlockMap) Verify(ctx context.Context, path string, idx []int64) error {
	if idx == nil {
		return m.VerifyData(ctx, path)
	}
	return m.verify(ctx, path, func(_ *os.File, want []bool) {
		for _, b := range idx {
			if b >= 0 && b < int64(len(want)) {
				want[b] = true
			}
		}
	})
}

// FileSHA256 returns the SHA-256 and size of the file at path.
func FileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// FileOutput describes a local output file (format as the caller names it).
func FileOutput(path, format string, disk int) (Output, error) {
	sum, size, err := FileSHA256(path)
	if err != nil {
		return Output{}, fmt.Errorf("provenance of %s: %w", path, err)
	}
	return Output{Path: path, Format: format, Size: size, SHA256: sum, Disk: disk}, nil
}
