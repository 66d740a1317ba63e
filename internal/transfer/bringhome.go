package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
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
	if n, ok := diskBytes(fi); ok {
		st.Written = min(n, st.Size)
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
//
// The image is read by one reader, its data extents in order (writeInOrder), not by the
// image engine's parallel workers: the remote file's cache evicts the blocks behind its
// readers, so a worker that lagged behind the others (descheduled on a loaded machine) read a
// block again after it had gone, and the file was fetched in part twice. Reading in order
// keeps every reader at the front; the remote file fetches ahead of it (cloud.RangeReader's
// read-ahead runs), so the network is kept busy all the same.
func FromRanged(r *Ranged) From { return rangedSource{r} }

type rangedSource struct{ r *Ranged }

func (s rangedSource) fill(ctx context.Context, dst *os.File, progress Progress) (int64, string, error) {
	err := writeInOrder(ctx, dst, s.r, progress)
	var note string
	if err == nil {
		note, err = s.r.Verify()
	}
	st := s.r.file.Stats()
	return st.Fetched + st.HashFetched, note, err
}

// inOrderChunk is what writeInOrder reads at a time; inOrderDepth chunks are read ahead of
// the writes.
const (
	inOrderChunk = 4 << 20
	inOrderDepth = 3
)

// writeInOrder writes img into the empty regular file dst, sparsely: one goroutine reads its
// data extents in order, a chunk at a time, while this one writes the chunks read (all-zero
// 4 KiB blocks are not written). progress is told at most every 200 ms, and at the end.
func writeInOrder(ctx context.Context, dst *os.File, img diskimage.Image, progress Progress) error {
	size := img.Size()
	exts, err := img.Extents(ctx)
	if err != nil {
		return err
	}
	if err := diskimage.CheckExtents(exts, size); err != nil {
		return fmt.Errorf("%s reader: %w", img.Format(), err)
	}
	if err := dst.Truncate(size); err != nil {
		return err
	}
	type chunk struct {
		off int64
		b   []byte
		err error
	}
	ctx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	defer func() { cancel(); <-stopped }() // no read of img outlives the call
	full, free := make(chan chunk, inOrderDepth), make(chan []byte, inOrderDepth+1)
	for range inOrderDepth + 1 {
		free <- make([]byte, inOrderChunk)
	}
	go func() {
		defer close(stopped)
		defer close(full)
		send := func(c chunk) bool {
			select {
			case full <- c:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for _, e := range exts {
			for off, end := e.Offset, e.Offset+e.Length; off < end && e.Kind == diskimage.Data; {
				var buf []byte
				select {
				case buf = <-free:
				case <-ctx.Done():
					return
				}
				b := buf[:min(int64(len(buf)), end-off)]
				n, err := img.ReadAt(b, off)
				if n < len(b) {
					if err == nil || err == io.EOF {
						err = io.ErrUnexpectedEOF
					}
					send(chunk{err: fmt.Errorf("%s at %d: %w", img.Format(), off+int64(n), err)})
					return
				}
				if !send(chunk{off: off, b: b}) {
					return
				}
				off += int64(len(b))
			}
		}
	}()
	const block = 4096
	last := time.Now()
	for c := range full {
		if c.err != nil {
			return c.err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		// Write the runs of non-zero blocks, one pwrite each.
		b := c.b
		for i := 0; i < len(b); {
			j := i
			for j < len(b) && !diskimage.IsZero(b[j:min(j+block, len(b))]) {
				j += block
			}
			if j > i {
				if _, err := dst.WriteAt(b[i:min(j, len(b))], c.off+int64(i)); err != nil {
					return err
				}
			}
			i = j + block
		}
		free <- c.b[:cap(c.b)]
		if time.Since(last) >= 200*time.Millisecond {
			progress(c.off+int64(len(b)), size)
			last = time.Now()
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	progress(size, size)
	return nil
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
