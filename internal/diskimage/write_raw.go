package diskimage

import (
	"context"
	"io"
	"os"
)

// raw writer: WriteRaw for regular files (sparse, parallel pwrite); for streams, the guest
// bytes in order with zeros for holes.

func init() { RegisterWriter(rawWriter{}) }

type rawWriter struct{}

func (rawWriter) Format() string                { return "raw" }
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
