package diskimage

import (
	"context"
	"fmt"
	"io"
)

// section is a byte range of another Image, seen as an Image of its own.
type section struct {
	img    Image
	off, n int64
}

// Section returns the bytes [off, off+n) of img as an Image of size n: a partition of a
// disk, say, whose extents are img's clipped to the range. Closing it does not close img.
func Section(img Image, off, n int64) (Image, error) {
	if off < 0 || n < 0 || off > img.Size() || n > img.Size()-off {
		return nil, fmt.Errorf("section [%d, %d) is outside the %d-byte %s image", off, off+n, img.Size(), img.Format())
	}
	return &section{img: img, off: off, n: n}, nil
}

func (s *section) Format() string { return s.img.Format() }
func (s *section) Size() int64    { return s.n }
func (s *section) Close() error   { return nil }

func (s *section) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read at negative offset %d", off)
	}
	if off >= s.n {
		return 0, io.EOF
	}
	short := false
	if rest := s.n - off; int64(len(b)) > rest {
		b, short = b[:rest], true
	}
	k, err := s.img.ReadAt(b, s.off+off)
	if err == nil && short {
		err = io.EOF
	}
	return k, err
}

func (s *section) Extents(ctx context.Context) ([]Extent, error) { return collectExtents(ctx, s) }

// walkExtents walks img's extents clipped to the section, and stops past its end.
func (s *section) walkExtents(ctx context.Context, fn func(Extent) error) error {
	end := s.off + s.n
	if s.n == 0 {
		return nil
	}
	err := WalkExtents(ctx, s.img, func(e Extent) error {
		if e.Offset >= end {
			return errStopWalk
		}
		a, z := max(e.Offset, s.off), min(e.Offset+e.Length, end)
		if a < z {
			return fn(Extent{Offset: a - s.off, Length: z - a, Kind: e.Kind})
		}
		return nil
	})
	return err
}
