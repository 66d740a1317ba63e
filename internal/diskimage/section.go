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

func (s *section) Extents(ctx context.Context) ([]Extent, error) {
	all, err := s.img.Extents(ctx)
	if err != nil {
		return nil, err
	}
	var out []Extent
	end := s.off + s.n
	for _, e := range all {
		a, z := max(e.Offset, s.off), min(e.Offset+e.Length, end)
		if a < z {
			out = append(out, Extent{Offset: a - s.off, Length: z - a, Kind: e.Kind})
		}
	}
	return out, nil
}
