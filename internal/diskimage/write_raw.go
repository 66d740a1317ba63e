package diskimage

import (
	"context"
	"fmt"
	"io"
	"os"
)

// raw writer: WriteRaw for regular files (sparse, parallel pwrite, see sparsecopy.go);
// for streams, the guest bytes in order with zeros for holes. WriteRawAt writes into a
// region of a file.

type rawWriter struct{}

func (rawWriter) NeedsSeek(o WriteOptions) bool { return false }

func (rawWriter) Write(ctx context.Context, dst io.Writer, src Image, o WriteOptions) error {
	if f, ok := dst.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			return WriteRaw(ctx, f, src, o.Progress)
		}
	}
	s, err := newSink(dst)
	if err != nil {
		return err
	}
	defer s.close()
	if err := writeGuestBytes(ctx, s, src, o); err != nil {
		return err
	}
	return s.finish()
}

// writeGuestBytes appends the whole virtual disk of src to s: data read in parallel,
// zeros (holes in a file sink) elsewhere.
func writeGuestBytes(ctx context.Context, s *sink, src Image, o WriteOptions) error {
	exts, err := prepare(ctx, src)
	if err != nil {
		return err
	}
	size := src.Size()
	base := s.pos
	emit := func(w *unitWork) error {
		if err := s.zeros(w.off - (s.pos - base)); err != nil {
			return err
		}
		return s.data(w.data[:min(w.n, size-w.off)])
	}
	noop := func(*unitWork) error { return nil }
	if err := runUnits(ctx, src, exts, copyChunk, 1, max(4, o.workers()), noop, emit, o.Progress); err != nil {
		return err
	}
	if err := s.zeros(size - (s.pos - base)); err != nil {
		return err
	}
	if o.Progress != nil {
		o.Progress(size, size)
	}
	return nil
}

// WriteRaw writes src into dst as a raw disk image. A regular file dst is truncated to
// src.Size() and written sparsely: holes and zero extents of src are not written and
// neither are all-zero 4 KiB blocks inside its data extents. A block device dst must be at
// least src.Size() bytes; every byte of it is written or zeroed. Data is read, scanned and
// written (pwrite) by several workers in parallel, each with one 2 MiB buffer.
//
// progress, if not nil, is called from one goroutine at most every 200 ms and once at the
// end with done == total. WriteRaw stops soon after ctx is cancelled and returns ctx.Err().
// It does not fsync dst.
func WriteRaw(ctx context.Context, dst *os.File, src Image, progress Progress) error {
	size := src.Size()
	exts, err := src.Extents(ctx)
	if err != nil {
		return err
	}
	if err := CheckExtents(exts, size); err != nil {
		return fmt.Errorf("%s reader: %w", src.Format(), err)
	}
	st, err := dst.Stat()
	if err != nil {
		return err
	}
	regular := st.Mode().IsRegular()
	if regular {
		// Truncating to 0 first makes every byte we do not write read as zero, even if dst
		// had content.
		if err := dst.Truncate(0); err != nil {
			return err
		}
		if err := dst.Truncate(size); err != nil {
			return err
		}
	} else {
		devSize, err := fileSize(dst)
		if err != nil {
			return err
		}
		if devSize < size {
			return fmt.Errorf("%s is %d bytes, smaller than the %d-byte image", dst.Name(), devSize, size)
		}
	}
	return copyAt(ctx, dst, 0, src, exts, progress, !regular)
}

// WriteRawAt writes src into the regular file dst at dstOff, sparsely: only the non-zero
// 4 KiB blocks (counted in dst) of src's data extents are written, so [dstOff,
// dstOff+src.Size()) of dst must read as zero already, as a fresh sparse file does. dst is
// neither truncated nor synced; it grows only as far as the last byte written. With
// Section, it copies a partition or file system from one disk into another.
func WriteRawAt(ctx context.Context, dst *os.File, dstOff int64, src Image, progress Progress) error {
	exts, err := src.Extents(ctx)
	if err != nil {
		return err
	}
	if err := CheckExtents(exts, src.Size()); err != nil {
		return fmt.Errorf("%s reader: %w", src.Format(), err)
	}
	return copyAt(ctx, dst, dstOff, src, exts, progress, false)
}
