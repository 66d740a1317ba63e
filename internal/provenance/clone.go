package provenance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// CloneInto makes dst (an empty file open for writing) a copy of the file at src: a reflink
// (FICLONE, instant, sharing extents) where the filesystem can, else a sparse copy of src's
// data ranges (copy_file_range, holes kept) in 64 MiB pieces by cloneWorkers at once. It
// tells which one it made.
func CloneInto(ctx context.Context, src string, dst *os.File) (reflink bool, err error) {
	f, err := os.Open(src)
	if err != nil {
		return false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	if !fi.Mode().IsRegular() {
		return false, fmt.Errorf("%s is not a regular file", src)
	}
	if tryReflink(dst, f) {
		return true, nil
	}
	if err := dst.Truncate(fi.Size()); err != nil {
		return false, err
	}
	var pieces [][2]int64
	for _, r := range dataRanges(f, fi.Size()) {
		for off := r[0]; off < r[1]; off += clonePiece {
			pieces = append(pieces, [2]int64{off, min(r[1], off+clonePiece)})
		}
	}
	// Pieces go to the workers in file order; each is copied at its own offsets (the
	// offsets are passed, never the files' positions), so the order they finish in does
	// not matter. The first error stops the others.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan [2]int64)
	var wg sync.WaitGroup
	for range min(cloneWorkers, max(len(pieces), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				if err := copyPiece(f, dst, p[0], p[1]-p[0]); err != nil {
					cancel(err)
				}
			}
		}()
	}
feed:
	for _, p := range pieces {
		select {
		case work <- p:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return false, err
	}
	return false, nil
}

// clonePiece and cloneWorkers shape a sparse copy: measured on ext4 here (1 GiB of data in a
// 4 GiB file, page cache warm, load 7-12), one copy_file_range at a time took 0.96-1.17 s,
// two or four at once 0.71-0.94 s.
const (
	clonePiece   = 64 << 20
	cloneWorkers = 2
)

// copyPiece copies [off, off+n) of src to the same place in dst: copy_file_range, or through a
// buffer where it is missing or ends early.
func copyPiece(src, dst *os.File, off, n int64) error {
	for end := off + n; off < end; {
		in, out := off, off
		w, err := copyFileRange(src, &in, dst, &out, int(end-off))
		if err != nil || w == 0 {
			return copyRange(src, dst, off, end-off)
		}
		off += int64(w)
	}
	return nil
}

func copyRange(src, dst *os.File, off, n int64) error {
	buf := make([]byte, min(n, 4<<20))
	for n > 0 {
		k := min(n, int64(len(buf)))
		r, err := src.ReadAt(buf[:k], off)
		if err != nil && !(errors.Is(err, io.EOF) && int64(r) == k) {
			return err
		}
		if _, err := dst.WriteAt(buf[:k], off); err != nil {
			return err
		}
		off += k
		n -= k
	}
	return nil
}
