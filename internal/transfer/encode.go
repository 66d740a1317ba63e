package transfer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
)

// Progress reports done bytes of total (the image engine's callback).
type Progress = diskimage.Progress

// Source is a disk image to encode.
type Source struct {
	Image diskimage.Image
	// AsIs, if set, opens the image's bytes exactly as they are stored (the file, or the disk
	// inside an OVA). Encode uses them instead of re-encoding when they are already in the
	// target format (and that format is not raw).
	AsIs func() (io.ReadCloser, error)
	// AsIsFormat is the format of the bytes AsIs returns.
	AsIsFormat string
}

// Options say how to encode.
type Options struct {
	Format string                 // the target format (diskimage.LookupWriter)
	Write  diskimage.WriteOptions // the writer's options
	// SpoolDir is where a temporary directory holding the spool file is made when the
	// format's writer needs to seek; "" is $TMPDIR.
	SpoolDir string
	// Finish, if set, runs after the last byte is produced and before the reader sees EOF:
	// its error fails the read instead (a remote source's hash check, say).
	Finish func() error
	// Say, if set, is told which way the image goes (spooled, as it is).
	Say func(string)
}

// Stream is an encoded image being read. Close it when done.
type Stream struct {
	io.Reader
	// How says how the bytes are produced: "as-is", "stream" or "spool".
	How     string
	closers []func() error
}

// Close releases the stream: it stops the encoder, closes files, removes a spool.
func (s *Stream) Close() error {
	var err error
	for i := len(s.closers) - 1; i >= 0; i-- {
		if cerr := s.closers[i](); err == nil {
			err = cerr
		}
	}
	s.closers = nil
	return err
}

// ReadAheadChunk and ReadAheadDepth size the read-ahead of a streamed encoding: up to 32 MiB
// of the converted stream kept ready.
const (
	ReadAheadChunk = 1 << 20
	ReadAheadDepth = 32
)

// Encode returns src's image in opts.Format as a stream of bytes:
//
//   - the bytes as they are, when src.AsIs is set, its format is the target's, the
//     target is not raw and the bytes' header is one every consumer reads
//     (diskimage.AsIsRefusal: not a GD_AT_END VMDK, nor a descriptor VMDK, whose disk is in
//     other files);
//   - else, when the format's writer does not need to seek, the writer's output through a
//     pipe, with up to 32 MiB read ahead (an io.Pipe has no buffer: the writer would wait for
//     the consumer's every read, the consumer for every block the writer reads);
//   - else a spool file of the target format, written first in a temporary directory under
//     opts.SpoolDir and removed by Close.
func Encode(ctx context.Context, src Source, opts Options) (*Stream, error) {
	w, err := diskimage.LookupWriter(opts.Format)
	if err != nil {
		return nil, err
	}
	say := opts.Say
	if say == nil {
		say = func(string) {}
	}
	s := &Stream{}
	var asIs io.ReadCloser
	if src.AsIs != nil && src.AsIsFormat == opts.Format && src.Image.Format() == opts.Format && opts.Format != "raw" {
		if asIs, err = openAsIs(src, opts.Format, say); err != nil {
			return nil, err
		}
	}
	switch {
	case asIs != nil:
		r := asIs
		s.Reader, s.How = r, "as-is"
		s.closers = append(s.closers, r.Close)
		if opts.Finish != nil {
			s.Reader = &finishReader{r: r, finish: opts.Finish}
		}
		say(fmt.Sprintf("already %s: uploaded as it is", opts.Format))
	case w.NeedsSeek(opts.Write):
		dir, err := os.MkdirTemp(opts.SpoolDir, "chromogenic-spool-")
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, func() error { return os.RemoveAll(dir) })
		tmp := filepath.Join(dir, "image."+opts.Format)
		say(fmt.Sprintf("Writing %s (this format cannot stream)...", tmp))
		if err := diskimage.Convert(ctx, src.Image, tmp, opts.Format, opts.Write); err != nil {
			s.Close()
			return nil, err
		}
		if opts.Finish != nil {
			if err := opts.Finish(); err != nil {
				s.Close()
				return nil, err
			}
		}
		f, err := os.Open(tmp)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.Reader, s.How = f, "spool"
		s.closers = append(s.closers, f.Close)
	default:
		pr, pw := io.Pipe()
		go func() {
			err := w.Write(ctx, pw, src.Image, opts.Write)
			if err == nil && opts.Finish != nil {
				err = opts.Finish()
			}
			pw.CloseWithError(err)
		}()
		ahead := NewReadAhead(pr, ReadAheadChunk, ReadAheadDepth)
		s.closers = append(s.closers, pr.Close, ahead.Close)
		s.Reader, s.How = ahead, "stream"
	}
	return s, nil
}

// ErrNeedsSeek is returned by WriteStream for a format and options whose writer needs a
// seekable file.
var ErrNeedsSeek = errors.New("needs a seekable output file, not a stream")

// WriteStream writes img in format to dst, which is written strictly in order (standard
// output, a socket); ErrNeedsSeek when the format's writer cannot do that with opts.
func WriteStream(ctx context.Context, dst io.Writer, img diskimage.Image, format string, opts diskimage.WriteOptions) error {
	w, err := diskimage.LookupWriter(format)
	if err != nil {
		return err
	}
	if w.NeedsSeek(opts) {
		return fmt.Errorf("%s with these options %w", format, ErrNeedsSeek)
	}
	// Hide an *os.File: it may be a regular file, which the writer would truncate and seek.
	return w.Write(ctx, struct{ io.Writer }{dst}, img, opts)
}

// finishReader runs finish when r reaches EOF; its error replaces the EOF.
type finishReader struct {
	r      io.Reader
	finish func() error
	done   bool
}

func (f *finishReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF && !f.done {
		f.done = true
		if ferr := f.finish(); ferr != nil {
			return n, ferr
		}
	}
	return n, err
}

// Counting reports the bytes read from r to progress, out of total.
func Counting(r io.Reader, total int64, progress Progress) io.Reader {
	if progress == nil {
		return r
	}
	return &countingReader{r: r, total: total, progress: progress}
}

type countingReader struct {
	r        io.Reader
	n, total int64
	progress Progress
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if n > 0 {
		c.progress(c.n, c.total)
	}
	return n, err
}

// openAsIs opens src's bytes as they are, or returns nil (and says why) when their first
// sector shows they must be re-encoded (diskimage.AsIsRefusal).
func openAsIs(src Source, format string, say func(string)) (io.ReadCloser, error) {
	r, err := src.AsIs()
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(r)
	head, err := br.Peek(512)
	if err != nil && err != io.EOF {
		r.Close()
		return nil, err
	}
	if why := diskimage.AsIsRefusal(format, head); why != "" {
		r.Close()
		say(fmt.Sprintf("already %s, but re-encoded: %s", format, why))
		return nil, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{br, r}, nil
}
