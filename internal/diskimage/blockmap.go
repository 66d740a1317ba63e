package diskimage

import (
	"context"
	"fmt"
	"io"
)

// blockMap is the reading side shared by the formats that map fixed-size blocks of the
// guest onto the file through one table read at open (VDI, VHDX): block b of the guest is
// at file offset at(b), or reads as zeros when at(b) < 0; kind(b) is its extent kind. The
// table was bounded by the file when the image was opened.
type blockMap struct {
	ra              io.ReaderAt
	c               io.Closer
	name            string // the format name
	size, blockSize int64
	at              func(b int64) int64
	kind            func(b int64) ExtentKind
}

func (m *blockMap) Format() string { return m.name }
func (m *blockMap) Size() int64    { return m.size }
func (m *blockMap) Close() error {
	if m.c == nil {
		return nil
	}
	return m.c.Close()
}

func (m *blockMap) Extents(ctx context.Context) ([]Extent, error) { return collectExtents(ctx, m) }

func (m *blockMap) walkExtents(ctx context.Context, fn func(Extent) error) error {
	for b := int64(0); b*m.blockSize < m.size; b++ {
		if b%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		off := b * m.blockSize
		if err := fn(Extent{Offset: off, Length: min(m.blockSize, m.size-off), Kind: m.kind(b)}); err != nil {
			return err
		}
	}
	return nil
}

func (m *blockMap) ReadAt(p []byte, off int64) (int, error) {
	q, eof := clipRead(p, off, m.size)
	n := 0
	for n < len(q) {
		cur := off + int64(n)
		b, in := cur/m.blockSize, cur%m.blockSize
		l := int(min(int64(len(q)-n), m.blockSize-in))
		if at := m.at(b); at < 0 {
			clear(q[n : n+l])
		} else if err := readFull(m.ra, q[n:n+l], at+in); err != nil {
			return n, fmt.Errorf("%w: %s block %d: %v", ErrCorrupt, m.name, b, err)
		}
		n += l
	}
	return n, eof
}
