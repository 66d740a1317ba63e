package diskimage

import (
	"fmt"
	"io"
	"sync"
)

// tableCache caches small on-disk tables (VMDK grain tables, qcow2 L2 tables are cached in
// qcow2Map) keyed by file offset, with FIFO eviction. Safe for concurrent use.
type tableCache struct {
	mu    sync.Mutex
	max   int
	m     map[int64][]byte
	order []int64
}

func newTableCache(max int) *tableCache { return &tableCache{max: max, m: map[int64][]byte{}} }

// get returns the n bytes at off of ra, reading them on a miss.
func (c *tableCache) get(ra io.ReaderAt, off int64, n int) ([]byte, error) {
	c.mu.Lock()
	t, ok := c.m[off]
	c.mu.Unlock()
	if ok {
		return t, nil
	}
	t = make([]byte, n)
	if err := readFull(ra, t, off); err != nil {
		return nil, fmt.Errorf("%w: table at %d: %v", ErrCorrupt, off, err)
	}
	c.mu.Lock()
	if _, ok := c.m[off]; !ok {
		if len(c.order) >= c.max {
			delete(c.m, c.order[0])
			c.order = c.order[1:]
		}
		c.m[off] = t
		c.order = append(c.order, off)
	}
	c.mu.Unlock()
	return t, nil
}

// clipRead prepares a ReadAt on an image of the given size: it returns the part of p to
// fill and the error to return once it is filled (io.EOF if p reaches past the end).
func clipRead(p []byte, off, size int64) ([]byte, error) {
	if off < 0 {
		return nil, fmt.Errorf("negative offset %d", off)
	}
	if off >= size {
		return p[:0], io.EOF
	}
	if rem := size - off; int64(len(p)) > rem {
		return p[:rem], io.EOF
	}
	return p, nil
}
