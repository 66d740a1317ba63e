package diskimage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
)

// rawImage is a raw disk image: the file is the disk. Its extent map comes from
// SEEK_DATA/SEEK_HOLE, so holes of a sparse file are never read. Read through an
// io.ReaderAt that is not a local file (OpenReaderAt), it is all Data.
type rawImage struct {
	f    *os.File    // the local file, or nil
	ra   io.ReaderAt // f, or what OpenReaderAt was given
	c    io.Closer   // closed by Close
	size int64
	name string
	mu   sync.Mutex // serialises lseek(SEEK_DATA/SEEK_HOLE), which moves the file offset
}

func init() {
	Register(Format{
		Name:       "raw",
		Extensions: []string{".raw", ".img"},
		Order:      0, // read as it is: the cheapest
		Fallback:   true,
		Open:       openRaw,
		OpenReaderAt: func(ra io.ReaderAt, size int64, c io.Closer) (Image, error) {
			return &rawImage{ra: ra, c: c, size: size, name: "raw"}, nil
		},
		Writer: rawWriter{},
	})
}

func openRaw(f *os.File) (Image, error) {
	size, err := fileSize(f)
	if err != nil {
		return nil, err
	}
	// Readers go through the file in ascending order (the copy pipelines' workers read
	// neighbouring chunks): a larger kernel readahead window.
	adviseSequential(f)
	return &rawImage{f: f, ra: f, c: f, size: size, name: "raw"}, nil
}

// fileSize returns the size of a regular file or a block device.
func fileSize(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if st.Mode().IsRegular() {
		return st.Size(), nil
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, fmt.Errorf("cannot determine the size of %s: %w", f.Name(), err)
	}
	return size, nil
}

func (r *rawImage) Format() string { return r.name }
func (r *rawImage) Size() int64    { return r.size }
func (r *rawImage) Close() error   { return r.c.Close() }

func (r *rawImage) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= r.size {
		return 0, io.EOF
	}
	short := false
	if rem := r.size - off; int64(len(p)) > rem {
		p = p[:rem]
		short = true
	}
	n, err := r.ra.ReadAt(p, off)
	if err == nil && short {
		err = io.EOF
	}
	return n, err
}

// prefetch starts reading [off, off+n) into the page cache without waiting (the copy
// pipelines call it for the data of the jobs they queue, ahead of the workers' reads).
func (r *rawImage) prefetch(off, n int64) {
	if r.f != nil {
		adviseWillNeed(r.f, off, n)
	}
}

func (r *rawImage) Extents(ctx context.Context) ([]Extent, error) { return collectExtents(ctx, r) }

func (r *rawImage) walkExtents(ctx context.Context, fn func(Extent) error) error {
	if r.f == nil {
		if r.size == 0 {
			return nil
		}
		return fn(Extent{Offset: 0, Length: r.size, Kind: Data})
	}
	return seekExtents(ctx, r.f, &r.mu, 0, r.size, fn)
}

// seekExtents maps [base, base+size) of f with SEEK_DATA/SEEK_HOLE into Data and Hole
// extents relative to base, passed to fn. Where the file system cannot tell, everything is
// Data. The file offset is held (mu) for the whole walk.
func seekExtents(ctx context.Context, f *os.File, mu *sync.Mutex, base, size int64, fn func(Extent) error) error {
	mu.Lock()
	defer mu.Unlock()
	end := base + size
	off := base
	for off < end {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := f.Seek(off, seekData)
		if err != nil {
			if errors.Is(err, syscall.ENXIO) {
				data = end // no data after off
			} else if off == base && (errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EOPNOTSUPP)) {
				return fn(Extent{Offset: 0, Length: size, Kind: Data}) // not supported here
			} else {
				return fmt.Errorf("SEEK_DATA at %d: %w", off, err)
			}
		}
		if data > end {
			data = end
		}
		if data > off {
			if err := fn(Extent{Offset: off - base, Length: data - off, Kind: Hole}); err != nil {
				return err
			}
		}
		if data >= end {
			break
		}
		hole, err := f.Seek(data, seekHole)
		if err != nil {
			if errors.Is(err, syscall.ENXIO) {
				hole = end
			} else {
				return fmt.Errorf("SEEK_HOLE at %d: %w", data, err)
			}
		}
		if hole > end {
			hole = end
		}
		if hole <= data { // cannot happen on a sane file system; avoid looping forever
			hole = end
		}
		if err := fn(Extent{Offset: data - base, Length: hole - data, Kind: Data}); err != nil {
			return err
		}
		off = hole
	}
	return nil
}

// appendExtent appends e, merging it with the last extent when contiguous and of the same
// kind. Empty extents are dropped.
func appendExtent(out []Extent, e Extent) []Extent {
	if e.Length <= 0 {
		return out
	}
	if n := len(out); n > 0 {
		last := &out[n-1]
		if last.Kind == e.Kind && last.Offset+last.Length == e.Offset {
			last.Length += e.Length
			return out
		}
	}
	return append(out, e)
}
