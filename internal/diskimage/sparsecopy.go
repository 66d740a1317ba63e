package diskimage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The sparse parallel copy: Data extents split into copyChunk jobs, read, scanned for
// all-zero blocks and written with pwrite by copyWorkers goroutines. WriteRaw and WriteRawAt
// (write_raw.go) write through it.

const (
	// copyChunk is the unit of work of the copy pipelines: big enough to amortise syscalls
	// and to hold a whole qcow2 cluster of the largest size (2 MiB), so a compressed cluster
	// is decompressed once.
	copyChunk = 2 << 20
	// zeroBlock is the granularity at which all-zero data is left as a hole, like
	// qemu-img's default -S 4k.
	zeroBlock = 4096
	// progressEvery is how often Progress is called during a copy.
	progressEvery = 200 * time.Millisecond
)

var zeros [copyChunk]byte

// copyWorkers is the number of concurrent read/scan/write workers: more than the cores so
// that I/O waits overlap, bounded so memory stays at copyWorkers × copyChunk.
func copyWorkers() int {
	n := 2 * runtime.GOMAXPROCS(0)
	return max(4, min(n, 16))
}

// CheckExtents verifies that exts is ascending, contiguous and covers [0, size) exactly.
func CheckExtents(exts []Extent, size int64) error {
	var off int64
	for i, e := range exts {
		if e.Offset != off || e.Length <= 0 || e.Kind < Data || e.Kind > Hole {
			return fmt.Errorf("extent %d {%d %d %d} does not continue at %d", i, e.Offset, e.Length, e.Kind, off)
		}
		off += e.Length
	}
	if off != size {
		return fmt.Errorf("extents cover %d bytes of %d", off, size)
	}
	return nil
}

// chunkJob is a piece of a Data extent, never crossing a copyChunk boundary.
type chunkJob struct {
	off, n int64
	zero   bool // range must read as zero in dst (only sent when dst is not zero-filled)
}

// forEachChunk calls fn for every Data extent piece, split at multiples of copyChunk, and
// for every Zero/Hole extent (with zero set) when zeroToo is true. It adds the length of
// skipped extents to skipped.
func forEachChunk(ctx context.Context, exts []Extent, zeroToo bool, skipped func(int64), fn func(chunkJob) bool) error {
	for _, e := range exts {
		if e.Kind != Data && !zeroToo {
			skipped(e.Length)
			continue
		}
		for off, end := e.Offset, e.Offset+e.Length; off < end; {
			if err := ctx.Err(); err != nil {
				return err
			}
			next := min(end, (off/copyChunk+1)*copyChunk)
			if !fn(chunkJob{off: off, n: next - off, zero: e.Kind != Data}) {
				return ctx.Err()
			}
			off = next
		}
	}
	return nil
}

// copyAt copies the extents of src to dst at dstOff on the copy workers. zeroAll: dst may
// hold old data (a block device), so every byte is written and zero extents are zeroed;
// otherwise dst reads as zero and only non-zero blocks are written.
func copyAt(ctx context.Context, dst *os.File, dstOff int64, src Image, exts []Extent, progress Progress, zeroAll bool) error {
	return runCopy(ctx, exts, src.Size(), progress, func(buf []byte, j chunkJob) error {
		if j.zero {
			return zeroRange(dst, dstOff+j.off, j.n)
		}
		b := buf[:j.n]
		if err := readFull(src, b, j.off); err != nil {
			return err
		}
		if zeroAll {
			_, err := dst.WriteAt(b, dstOff+j.off)
			return err
		}
		return writeNonZero(dst, b, dstOff+j.off)
	}, zeroAll)
}

// readFull reads exactly len(b) bytes at off.
func readFull(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("read at %d: %w", off+int64(n), err)
}

// writeNonZero writes b at off, skipping the all-zero zeroBlock-aligned (in absolute
// offsets) blocks; dst must read as zero there already.
func writeNonZero(w io.WriterAt, b []byte, off int64) error {
	runStart := -1 // start in b of the pending non-zero run
	flush := func(end int) error {
		if runStart < 0 {
			return nil
		}
		_, err := w.WriteAt(b[runStart:end], off+int64(runStart))
		runStart = -1
		return err
	}
	for i := 0; i < len(b); {
		next := int((off+int64(i))/zeroBlock+1)*zeroBlock - int(off)
		next = min(next, len(b))
		if bytes.Equal(b[i:next], zeros[:next-i]) {
			if err := flush(i); err != nil {
				return err
			}
		} else if runStart < 0 {
			runStart = i
		}
		i = next
	}
	return flush(len(b))
}

// zeroRange makes [off, off+n) of f read as zero, writing zeros if nothing cheaper works.
func zeroRange(f *os.File, off, n int64) error {
	if fallocZero(f, off, n) == nil {
		return nil
	}
	for n > 0 {
		k := min(n, int64(len(zeros)))
		if _, err := f.WriteAt(zeros[:k], off); err != nil {
			return err
		}
		off += k
		n -= k
	}
	return nil
}

// runCopy runs work over the chunks of exts on copyWorkers goroutines, reporting progress.
func runCopy(ctx context.Context, exts []Extent, total int64, progress Progress, work func(buf []byte, j chunkJob) error, zeroToo bool) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var done atomic.Int64
	jobs := make(chan chunkJob, 2*copyWorkers())
	var wg sync.WaitGroup
	for range copyWorkers() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, copyChunk)
			for j := range jobs {
				if ctx.Err() != nil {
					continue // drain
				}
				if err := work(buf, j); err != nil {
					cancel(err)
					continue
				}
				done.Add(j.n)
			}
		}()
	}
	finished := make(chan struct{})
	var reporter sync.WaitGroup
	if progress != nil {
		reporter.Add(1)
		go func() {
			defer reporter.Done()
			t := time.NewTicker(progressEvery)
			defer t.Stop()
			for {
				select {
				case <-finished:
					return
				case <-t.C:
					progress(done.Load(), total)
				}
			}
		}()
	}
	perr := forEachChunk(ctx, exts, zeroToo, func(n int64) { done.Add(n) }, func(j chunkJob) bool {
		select {
		case jobs <- j:
			return true
		case <-ctx.Done():
			return false
		}
	})
	close(jobs)
	wg.Wait()
	close(finished)
	reporter.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	if perr != nil {
		return perr
	}
	if progress != nil {
		progress(total, total)
	}
	return nil
}
