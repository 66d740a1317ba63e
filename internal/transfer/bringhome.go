package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/hostfile"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
)

// From is a source BringHome takes a disk's bytes from: an image (FromImage), a remote file
// read in place (FromRanged), a stream (FromStream) or an adapter that writes the file
// itself (FromFunc).
type From interface {
	// fill writes the whole disk into dst, a new empty regular file, sparsely, and returns
	// the bytes it read from the source and a note for the report ("" for none).
	fill(ctx context.Context, dst *os.File, progress Progress) (read int64, note string, err error)
}

// Sink is what a source that writes the disk in order writes into (FromStream, FromRanged,
// FromImage with HomeOptions.Map or Base, FromOrdered): the new file itself, or the
// provenance.Update that hashes each block on the way and, over a base, writes only the
// blocks that differ. Writes go forward (never back into a 512 KiB block already passed),
// zeros need not be written, and Truncate sets the disk's size.
type Sink interface {
	io.WriterAt
	Truncate(size int64) error
}

// ordered is a source that can write the disk in order through a Sink.
type ordered interface {
	fillOrdered(ctx context.Context, dst Sink, progress Progress) (read int64, note string, err error)
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
	// Map is the block map of the working copy made on the way (HomeOptions.Map or Base; its
	// Path is dst as given, no stamp).
	Map *provenance.BlockMap
	// Update says what an update over HomeOptions.Base wrote (nil without a base, or when the
	// base could not be used: Fallback says why and the disk was brought home in full).
	Update   *provenance.UpdateStats
	Fallback string
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
	return BringHomeWith(ctx, dst, perm, src, HomeOptions{Progress: progress})
}

// HomeOptions are BringHomeWith's.
type HomeOptions struct {
	// Progress, if not nil, is told the bytes done out of the total (see BringHome).
	Progress Progress
	// Map: hash each 512 KiB block as it is written (provenance.NewMapWriter): Stats.Map,
	// with no second reading of the file. The source must write in order (Sink).
	Map bool
	// Base, when set, is an earlier working copy's block map (its Path the file): dst starts
	// as a copy of that file (a reflink where the filesystem can), checked against the map
	// (provenance.NewUpdate), and the source's whole disk is then compared block by block
	// with it, only the blocks that differ being written (Stats.Update). A base that does not
	// match its map gives a full copy instead (Stats.Fallback says why; Say is told first).
	// Implies Map. The base file is only read; dst must be another file.
	Base *provenance.BlockMap
	// Say, if not nil, hears why a base is not used, before the full copy starts.
	Say func(string)
}

// BringHomeWith is BringHome with a block map made on the way, or an update over a base
// (HomeOptions).
func BringHomeWith(ctx context.Context, dst string, perm os.FileMode, src From, o HomeOptions) (st Stats, err error) {
	if src == nil {
		return st, errors.New("transfer: no source")
	}
	progress := o.Progress
	ord, inOrder := src.(ordered)
	if (o.Map || o.Base != nil) && !inOrder {
		return st, errors.New("transfer: this source writes the file itself: it cannot be hashed on the way or update a base")
	}
	if o.Base != nil {
		if err := notSameFile(dst, o.Base.Path); err != nil {
			return st, err
		}
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
	if o.Map || o.Base != nil {
		st.Read, st.Note, err = bringOrdered(ctx, f, ord, progress, o, &st)
	} else {
		st.Read, st.Note, err = src.fill(ctx, f, progress)
	}
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

// bringOrdered fills f through a provenance.Update: over o.Base when it can be used, else
// as a new file; st gets the map and the update's statistics.
func bringOrdered(ctx context.Context, f *os.File, src ordered, progress Progress, o HomeOptions, st *Stats) (int64, string, error) {
	var u *provenance.Update
	if o.Base != nil {
		var err error
		u, err = provenance.NewUpdate(ctx, f, o.Base.Path, o.Base)
		var be *provenance.BaseError
		if errors.As(err, &be) {
			st.Fallback = be.Reason.Error()
			if o.Say != nil {
				o.Say(fmt.Sprintf("Not updating over the base: %s: bringing the whole disk home as a new file", st.Fallback))
			}
			if err := f.Truncate(0); err != nil {
				return 0, "", err
			}
			u = nil
		} else if err != nil {
			return 0, "", err
		}
	}
	if u == nil {
		u = provenance.NewMapWriter(f)
	}
	read, note, err := src.fillOrdered(ctx, u, progress)
	if err != nil {
		return read, note, err
	}
	m, us, err := u.Finish()
	if err != nil {
		return read, note, err
	}
	st.Map = m
	if o.Base != nil && st.Fallback == "" {
		st.Update = &us
	}
	return read, note, nil
}

// notSameFile refuses a base that is dst itself (dst is truncated first).
func notSameFile(dst, base string) error {
	a, aerr := os.Stat(dst)
	b, berr := os.Stat(base)
	if aerr == nil && berr == nil && os.SameFile(a, b) {
		return fmt.Errorf("transfer: the base %s is the working copy %s itself: it is read, never overwritten", base, dst)
	}
	if pa, pb := absClean(dst), absClean(base); pa == pb {
		return fmt.Errorf("transfer: the base %s is the working copy %s itself: it is read, never overwritten", base, dst)
	}
	return nil
}

func absClean(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
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

// fillOrdered reads img's data extents in order (writeInOrder): a local image or device is
// read sequentially, a chunk ahead of the writes.
func (s imageSource) fillOrdered(ctx context.Context, dst Sink, progress Progress) (int64, string, error) {
	c := &countingImage{Image: s.img}
	err := writeInOrder(ctx, dst, c, progress)
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
	return s.fillOrdered(ctx, dst, progress)
}

func (s rangedSource) fillOrdered(ctx context.Context, dst Sink, progress Progress) (int64, string, error) {
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
func writeInOrder(ctx context.Context, dst Sink, img diskimage.Image, progress Progress) error {
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
	return s.fillOrdered(ctx, dst, progress)
}

func (s streamSource) fillOrdered(ctx context.Context, dst Sink, progress Progress) (int64, string, error) {
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

// FromOrdered is a source that writes the disk in order through a Sink (an unbundler), zeros
// not written, its size set with Truncate, reporting progress, and returns the bytes it read
// from the source. Unlike FromFunc it can be hashed on the way and update a base (HomeOptions).
func FromOrdered(fill func(ctx context.Context, dst Sink, progress Progress) (read int64, err error)) From {
	return orderedFunc(fill)
}

type orderedFunc func(ctx context.Context, dst Sink, progress Progress) (int64, error)

func (s orderedFunc) fill(ctx context.Context, dst *os.File, progress Progress) (int64, string, error) {
	return s.fillOrdered(ctx, dst, progress)
}

func (s orderedFunc) fillOrdered(ctx context.Context, dst Sink, progress Progress) (int64, string, error) {
	n, err := s(ctx, dst, progress)
	return n, "", err
}
