package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/hostfile"
)

// From is a source BringHome takes a disk's bytes from: an image (FromImage), a remote file
// read in place (FromRanged), a stream (FromStream) or an adapter that writes the file
// itself (FromFunc).
type From interface {
	// fill writes the whole disk into dst, a new empty regular file, sparsely, and returns
	// the bytes it read from the source and a note for the report ("" for none).
	fill(ctx context.Context, dst *os.File, progress Progress) (read int64, note string, err error)
}

// Stats says what BringHome moved.
type Stats struct {
	Read     int64         // bytes read from the source (fetched, for a remote one)
	Size     int64         // bytes of the working copy (the virtual disk)
	Written  int64         // bytes the working copy allocates (its data)
	Skipped  int64         // Size - Written: holes and zero blocks not written
	Duration time.Duration // from the file's creation to its fsync
	// Note is what the source adds (a remote file's "Read N MiB ... verified" report).
	Note string
}

// String is the one throughput line a face prints.
func (s Stats) String() string {
	secs := max(s.Duration.Seconds(), 0.001)
	line := fmt.Sprintf("%d MiB read, %d MiB written of %d MiB (%d MiB of zeros skipped) in %s, %.0f MiB/s read",
		s.Read>>20, s.Written>>20, s.Size>>20, s.Skipped>>20, s.Duration.Round(time.Millisecond), float64(s.Read)/secs/(1<<20))
	if s.Note != "" {
		line += "; " + s.Note
	}
	return line
}

// BringHome makes the working copy dst from src: a new file (hostfile.Create: exactly mode
// perm, an existing file truncated, a link at dst not followed), written sparsely (holes
// and all-zero 4 KiB blocks are not written), synced and closed. On any failure, ctx's end
// included, the half-written file is removed. progress, if not nil, is told the bytes done
// out of the total as soon as the total is known (a face starts its bar then).
func BringHome(ctx context.Context, dst string, perm os.FileMode, src From, progress Progress) (st Stats, err error) {
	if src == nil {
		return st, errors.New("transfer: no source")
	}
	start := time.Now()
	f, err := hostfile.Create(dst, perm)
	if err != nil {
		return st, err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(dst)
		}
	}()
	if progress == nil {
		progress = func(int64, int64) {}
	}
	st.Read, st.Note, err = src.fill(ctx, f, progress)
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		return st, err
	}
	fi, err := f.Stat()
	if err != nil {
		return st, err
	}
	st.Size = fi.Size()
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.Written = min(sys.Blocks*512, st.Size)
	} else {
		st.Written = st.Size
	}
	st.Skipped = st.Size - st.Written
	st.Duration = time.Since(start)
	return st, nil
}

// FromImage reads img (a local file of any format the engine reads, a block device, an
// image read through an io.ReaderAt) with the image engine's parallel sparse raw writer
// (diskimage.WriteRaw): only its data extents are read.
func FromImage(img diskimage.Image) From { return imageSource{img} }

type imageSource struct{ img diskimage.Image }

func (s imageSource) fill(ctx context.Context, dst *os.File, progress Progress) (int64, string, error) {
	c := &countingImage{Image: s.img}
	err := diskimage.WriteRaw(ctx, dst, c, progress)
	return c.n.Load(), "", err
}

// countingImage counts the bytes read from an image.
type countingImage struct {
	diskimage.Image
	n atomic.Int64
}

func (c *countingImage) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.Image.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

// FromRanged reads a disk image in place from a remote file (OpenRanged) and verifies the
// whole file once it is written: a file that fails verification is no working copy. Read is
// every byte fetched, the hash's included; the note is Ranged.Verify's report.
func FromRanged(r *Ranged) From { return rangedSource{r} }

type rangedSource struct{ r *Ranged }

func (s rangedSource) fill(ctx context.Context, dst *os.File, progress Progress) (int64, string, error) {
	err := diskimage.WriteRaw(ctx, dst, s.r, progress)
	var note string
	if err == nil {
		note, err = s.r.Verify()
	}
	st := s.r.file.Stats()
	return st.Fetched + st.HashFetched, note, err
}

// FromStream reads the raw disk from r, in order, to its end; size is its length for the
// progress (0 when unknown). A stream that reports an error at its end (a hash mismatch)
// fails the copy.
func FromStream(r io.Reader, size int64) From { return streamSource{r, size} }

type streamSource struct {
	r    io.Reader
	size int64
}

func (s streamSource) fill(ctx context.Context, dst *os.File, progress Progress) (int64, string, error) {
	c := &countingReader{r: s.r, total: s.size, progress: progress}
	err := spoolSparse(ctx, dst, c)
	return c.n, "", err
}

// FromFunc is a source that writes the disk into the new file itself (a cloud adapter's
// parallel block download, an unbundler), sparsely, reporting progress, and returns the bytes
// it read from the source.
func FromFunc(fill func(ctx context.Context, dst *os.File, progress Progress) (read int64, err error)) From {
	return funcSource(fill)
}

type funcSource func(ctx context.Context, dst *os.File, progress Progress) (int64, error)

func (s funcSource) fill(ctx context.Context, dst *os.File, progress Progress) (int64, string, error) {
	n, err := s(ctx, dst, progress)
	return n, "", err
}
