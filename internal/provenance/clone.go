package provenance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// CloneInto makes dst (an empty file open for writing) a copy of the file at src: a reflink
// (FICLONE, instant, sharing extents) where the filesystem can, else a sparse copy of src's
// data ranges (copy_file_range, holes kept). It tells which one it made.
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
	for _, r := range dataRanges(f, fi.Size()) {
		for off := r[0]; off < r[1]; {
			if err := ctx.Err(); err != nil {
				return false, err
			}
			n := min(r[1]-off, 64<<20)
			in, out := off, off
			w, err := copyFileRange(f, &in, dst, &out, int(n))
			if err != nil || w == 0 {
				// No copy_file_range here (or an early end): copy through a buffer.
				if err := copyRange(f, dst, off, n); err != nil {
					return false, err
				}
				w = int(n)
			}
			off += int64(w)
		}
	}
	return false, nil
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
