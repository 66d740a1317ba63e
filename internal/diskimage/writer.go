package diskimage

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/hostfile"
)

// Writer writes an Image in one output format: the Writer of its Format declaration
// (write_<format>.go here).
type Writer interface {
	// NeedsSeek reports whether Write needs dst to be a regular *os.File with these
	// options. When false, Write writes dst strictly sequentially and works on any
	// io.Writer: a pipe, an HTTP request body, a tar member.
	NeedsSeek(opts WriteOptions) bool
	// Write writes src to dst. When dst is a regular *os.File it is truncated first and
	// written sparsely (unwritten ranges are holes); other writers get every byte.
	Write(ctx context.Context, dst io.Writer, src Image, opts WriteOptions) error
}

// WriteOptions are the options of all writers; each ignores what does not apply to it.
type WriteOptions struct {
	// Subformat: vmdk "streamOptimized" (default) or "monolithicSparse"; vhd and vdi
	// "dynamic" (default) or "fixed".
	Subformat string
	// Compression: qcow2 "" or "none" (default), "zlib" or "zstd".
	Compression string
	// ClusterSize is the qcow2 cluster size: a power of two from 512 to 2 MiB; 0 means
	// 64 KiB.
	ClusterSize int
	// Level is the compression level: 0 default, 1 fastest .. 9 smallest (zstd maps it to
	// its speed levels).
	Level int
	// Workers is the number of goroutines reading and compressing (or scanning) the
	// data; 0 means copyWorkers(): twice GOMAXPROCS, 4..16, so that reads overlap the
	// compression.
	Workers int
	// AdapterType is the VMDK ddb.adapterType: "lsilogic" (default), "ide", "buslogic",
	// "legacyESX", "pvscsi".
	AdapterType string
	// ExtentName is the file name recorded in the VMDK descriptor; default "disk.vmdk".
	ExtentName string
	// AzureAlign rounds a fixed VHD's size up to a multiple of 1 MiB, as Azure requires.
	AzureAlign bool
	// Progress, if set, is called with the guest bytes written so far.
	Progress Progress
	// FormatOptions are the options of formats that take more than the fields above, by
	// format name: FormatOptions["ova"] is an ova.Options. Writers ignore the others.
	FormatOptions map[string]any
}

func (o WriteOptions) workers() int {
	if o.Workers > 0 {
		return o.Workers
	}
	return copyWorkers()
}

// LookupWriter returns the writer of a format (a name or alias, see Lookup); an unknown
// name, or a format that is not written, is an error wrapping ErrUnknownFormat.
func LookupWriter(format string) (Writer, error) {
	if f, err := Lookup(format); err == nil && f.Writer != nil {
		return f.Writer, nil
	}
	format = strings.ToLower(strings.TrimSpace(format))
	return nil, fmt.Errorf("%w %q for output (known: %s)", ErrUnknownFormat, format, strings.Join(WriterFormats(), ", "))
}

// Convert writes src into a new file at path (replacing it) in the given format, with
// WriteFile's guarantees and mode 0600.
func Convert(ctx context.Context, src Image, path, format string, opts WriteOptions) error {
	return WriteFile(ctx, src, path, format, hostfile.DefaultFileMode, opts)
}

// WriteFile writes src in the given format to path with exactly mode perm. It writes a
// hidden temporary file beside path (".<name>.part"), syncs it and renames it over path only
// when complete, so an interrupted or failed conversion never leaves a file that looks
// finished; the temporary file is removed on any error.
func WriteFile(ctx context.Context, src Image, path, format string, perm os.FileMode, opts WriteOptions) error {
	w, err := LookupWriter(format)
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".part")
	f, err := hostfile.Create(tmp, perm)
	if err != nil {
		return err
	}
	err = w.Write(ctx, f, src, opts)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// sink is the output of a writer: a regular file written positionally (holes skipped), or a
// stream written sequentially through a buffer.
type sink struct {
	w    io.Writer
	file *os.File // regular file: positional writes, sparse
	pos  int64
	buf  []byte     // pending bytes at pos-len(buf)
	wb   *writeback // early writeback of what is written (files only)
}

const sinkBuf = 1 << 20

func newSink(dst io.Writer) (*sink, error) {
	s := &sink{w: dst, buf: make([]byte, 0, sinkBuf)}
	if f, ok := dst.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			if err := f.Truncate(0); err != nil {
				return nil, err
			}
			s.file = f
			s.wb = newWriteback(f)
		}
	}
	return s, nil
}

// close releases the sink's writeback goroutine; finish does it too. Writers defer it so
// that an error path does not leak it.
func (s *sink) close() { s.wb.stop() }

func (s *sink) seekable() bool { return s.file != nil }

func (s *sink) flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	var err error
	if s.file != nil {
		_, err = s.file.WriteAt(s.buf, s.pos-int64(len(s.buf)))
		s.wb.advance(s.pos)
	} else {
		_, err = s.w.Write(s.buf)
	}
	s.buf = s.buf[:0]
	return err
}

// write appends b.
func (s *sink) write(b []byte) error {
	if len(s.buf)+len(b) > cap(s.buf) {
		if err := s.flush(); err != nil {
			return err
		}
		if len(b) >= cap(s.buf) {
			s.pos += int64(len(b))
			if s.file != nil {
				_, err := s.file.WriteAt(b, s.pos-int64(len(b)))
				s.wb.advance(s.pos)
				return err
			}
			_, err := s.w.Write(b)
			return err
		}
	}
	s.buf = append(s.buf, b...)
	s.pos += int64(len(b))
	return nil
}

// data appends guest data: in a file its all-zero 4 KiB blocks become holes.
func (s *sink) data(b []byte) error {
	if s.file == nil {
		return s.write(b)
	}
	if err := s.flush(); err != nil {
		return err
	}
	if err := writeNonZero(s.file, b, s.pos); err != nil {
		return err
	}
	s.pos += int64(len(b))
	s.wb.advance(s.pos)
	return nil
}

// runs appends b to a file sink, writing only the ranges [runs[i], runs[i+1]) of it (the
// rest must read as zero: holes), in one pwrite each.
func (s *sink) runs(b []byte, runs []int64) error {
	if s.file == nil {
		return s.write(b)
	}
	if err := s.flush(); err != nil {
		return err
	}
	for i := 0; i+1 < len(runs); i += 2 {
		if _, err := s.file.WriteAt(b[runs[i]:runs[i+1]], s.pos+runs[i]); err != nil {
			return err
		}
	}
	s.pos += int64(len(b))
	s.wb.advance(s.pos)
	return nil
}

// nonZeroRuns appends to runs the [start, end) pairs of the maximal runs of b's zeroBlock
// pages (counted from the start of b; the last may be short) that are not all zero.
func nonZeroRuns(b []byte, runs []int64) []int64 {
	open := false
	for i := 0; i < len(b); i += zeroBlock {
		j := min(i+zeroBlock, len(b))
		z := string(b[i:j]) == string(zeros[:j-i])
		switch {
		case !z && !open:
			runs = append(runs, int64(i), int64(j))
			open = true
		case !z:
			runs[len(runs)-1] = int64(j)
		default:
			open = false
		}
	}
	return runs
}

// zeros appends n zero bytes: a hole in a file.
func (s *sink) zeros(n int64) error {
	if s.file != nil {
		if err := s.flush(); err != nil {
			return err
		}
		s.pos += n
		return nil
	}
	for n > 0 {
		k := min(n, int64(len(zeros)))
		if err := s.write(zeros[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// writeAt patches already reserved bytes (files only).
func (s *sink) writeAt(b []byte, off int64) error {
	if err := s.flush(); err != nil {
		return err
	}
	_, err := s.file.WriteAt(b, off)
	return err
}

// finish flushes and, for a file, sets its size to the end position.
func (s *sink) finish() error {
	if err := s.flush(); err != nil {
		return err
	}
	if s.file != nil {
		s.wb.stop()
		return s.file.Truncate(s.pos)
	}
	return nil
}

// unitWork is one job of the unit pipeline: a unit-aligned guest range, its data, and the
// writer's encoding of it.
type unitWork struct {
	off, n int64
	data   []byte  // the guest bytes, zero outside Data extents, zero-padded to whole units
	out    []byte  // encoded output
	marks  []int64 // writer-specific per-unit bookkeeping
}

// runUnits reads the units of src (fixed-size, aligned blocks: grains, clusters) that
// intersect Data extents, batch units per job, runs work on them in parallel and emit on
// them in ascending order from the calling goroutine. Memory: about 2×workers jobs.
func runUnits(ctx context.Context, src Image, exts []Extent, unit int64, batch int, workers int,
	work func(*unitWork) error, emit func(*unitWork) error, progress Progress) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	size := src.Size()
	depth := 2*workers + 2
	free := make(chan *unitWork, depth)
	for range depth {
		free <- &unitWork{data: make([]byte, int64(batch)*unit)}
	}
	type slot struct {
		w    *unitWork
		done chan error
	}
	order := make(chan slot, depth)
	todo := make(chan slot, depth)
	pf, _ := src.(prefetcher)
	go func() {
		defer close(order)
		defer close(todo)
		var cur *unitWork
		send := func() bool {
			if cur == nil {
				return true
			}
			if pf != nil {
				// Let the kernel start reading the job's data now, a few jobs ahead of
				// the worker that will read it.
				prefetchData(pf, exts, cur.off, cur.n)
			}
			s := slot{cur, make(chan error, 1)}
			cur = nil
			select {
			case order <- s:
			case <-ctx.Done():
				return false
			}
			todo <- s // never blocks longer than a worker takes: capacity == depth
			return true
		}
		next := int64(0) // first unit not yet queued
		for _, e := range exts {
			if e.Kind != Data {
				continue
			}
			first := max(e.Offset/unit, next)
			last := (e.Offset + e.Length + unit - 1) / unit
			for u := first; u < last; u++ {
				if cur != nil && (u*unit != cur.off+cur.n || cur.n >= int64(batch)*unit) {
					if !send() {
						return
					}
				}
				if cur == nil {
					select {
					case cur = <-free:
					case <-ctx.Done():
						return
					}
					cur.off, cur.n = u*unit, 0
				}
				cur.n += unit
			}
			next = max(next, last)
		}
		send()
	}()
	for range workers {
		go func() {
			for s := range todo {
				if err := context.Cause(ctx); err != nil {
					s.done <- err
					continue
				}
				err := readUnits(src, exts, s.w, size)
				if err == nil {
					err = work(s.w)
				}
				s.done <- err
			}
		}()
	}
	var firstErr error
	last := time.Now()
	for s := range order {
		err := <-s.done
		if err == nil && firstErr == nil {
			err = emit(s.w)
		}
		if err != nil && firstErr == nil {
			firstErr = err
			cancel(err)
		}
		if progress != nil && firstErr == nil && time.Since(last) > progressEvery {
			progress(min(s.w.off+s.w.n, size), size)
			last = time.Now()
		}
		free <- s.w
	}
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// prefetcher is an Image that can start reading a range ahead of ReadAt calls.
type prefetcher interface{ prefetch(off, n int64) }

// prefetchData asks pf to prefetch the Data extents of [off, off+n).
func prefetchData(pf prefetcher, exts []Extent, off, n int64) {
	end := off + n
	i := sort.Search(len(exts), func(i int) bool { return exts[i].Offset+exts[i].Length > off })
	for ; i < len(exts) && exts[i].Offset < end; i++ {
		if e := exts[i]; e.Kind == Data {
			a, z := max(e.Offset, off), min(e.Offset+e.Length, end)
			pf.prefetch(a, z-a)
		}
	}
}

// readUnits fills w.data[:w.n] with the guest bytes of [w.off, w.off+w.n), reading only
// Data extents and zeroing everything else (including past the end of the image).
func readUnits(src Image, exts []Extent, w *unitWork, size int64) error {
	b := w.data[:w.n]
	end := w.off + w.n
	filled := w.off // b is set up to here; only the gaps between reads are cleared
	i := sort.Search(len(exts), func(i int) bool { return exts[i].Offset+exts[i].Length > w.off })
	for ; i < len(exts) && exts[i].Offset < end; i++ {
		e := exts[i]
		if e.Kind != Data {
			continue
		}
		a, z := max(e.Offset, w.off), min(e.Offset+e.Length, end, size)
		if a < z {
			clear(b[filled-w.off : a-w.off])
			if err := readFull(src, b[a-w.off:z-w.off], a); err != nil {
				return err
			}
			filled = z
		}
	}
	clear(b[filled-w.off:])
	return nil
}

// IsZero reports whether b is all zeros (compared a zero page at a time). Every sparse
// writer in the project uses it to skip zero blocks.
func IsZero(b []byte) bool {
	for len(b) > 0 {
		k := min(len(b), len(zeros))
		if string(b[:k]) != string(zeros[:k]) {
			return false
		}
		b = b[k:]
	}
	return true
}

// prepare opens the extent map of src for a writer.
func prepare(ctx context.Context, src Image) ([]Extent, error) {
	exts, err := src.Extents(ctx)
	if err != nil {
		return nil, err
	}
	if err := CheckExtents(exts, src.Size()); err != nil {
		return nil, fmt.Errorf("%s reader: %w", src.Format(), err)
	}
	return exts, nil
}
