// Package testformat declares a toy disk image format, "testfmt", for tests: importing it
// registers it with the image engine, and nothing else in the project names it. It shows
// that adding a format is adding one file: this one.
//
// A testfmt file is a 512-byte header (the magic "TESTFMT\n", then the virtual size as a
// little-endian uint64, then zeros) followed by the guest bytes.
package testformat

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
)

// Name is the format's name; Alias and Ext are its other name and its extension.
const (
	Name  = "testfmt"
	Alias = "toy"
	Ext   = ".tst"
	magic = "TESTFMT\n"
	hdr   = 512
)

func init() {
	diskimage.Register(diskimage.Format{
		Name:        Name,
		Aliases:     []string{Alias},
		Description: "a toy test image",
		Extensions:  []string{Ext},
		Order:       50,
		Probe: func(_ io.ReaderAt, _ int64, head []byte) bool {
			return len(head) >= len(magic) && string(head[:len(magic)]) == magic
		},
		Open: func(f *os.File) (diskimage.Image, error) {
			st, err := f.Stat()
			if err != nil {
				return nil, err
			}
			return open(f, st.Size(), f)
		},
		OpenReaderAt: open,
		Writer:       writer{},
	})
}

type image struct {
	ra   io.ReaderAt
	c    io.Closer
	size int64
}

func open(ra io.ReaderAt, fsize int64, c io.Closer) (diskimage.Image, error) {
	var h [16]byte
	if _, err := ra.ReadAt(h[:], 0); err != nil || string(h[:8]) != magic {
		return nil, fmt.Errorf("%w: not a testfmt image", diskimage.ErrCorrupt)
	}
	size := int64(binary.LittleEndian.Uint64(h[8:]))
	if size < 0 || size > diskimage.MaxVirtualSize || size > fsize-hdr {
		return nil, fmt.Errorf("%w: testfmt size %d in a %d-byte file", diskimage.ErrCorrupt, size, fsize)
	}
	return &image{ra, c, size}, nil
}

func (m *image) Format() string { return Name }
func (m *image) Size() int64    { return m.size }
func (m *image) Close() error   { return m.c.Close() }

func (m *image) ReadAt(p []byte, off int64) (int, error) {
	if off >= m.size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), m.size-off)
	k, err := m.ra.ReadAt(p[:n], hdr+off)
	if err == nil && k < len(p) {
		err = io.EOF
	}
	return k, err
}

func (m *image) Extents(context.Context) ([]diskimage.Extent, error) {
	if m.size == 0 {
		return nil, nil
	}
	return []diskimage.Extent{{Offset: 0, Length: m.size, Kind: diskimage.Data}}, nil
}

type writer struct{}

func (writer) NeedsSeek(diskimage.WriteOptions) bool { return false }

func (writer) Write(ctx context.Context, dst io.Writer, src diskimage.Image, o diskimage.WriteOptions) error {
	if f, ok := dst.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			if err := f.Truncate(0); err != nil {
				return err
			}
		}
	}
	h := make([]byte, hdr)
	copy(h, magic)
	binary.LittleEndian.PutUint64(h[8:], uint64(src.Size()))
	if _, err := dst.Write(h); err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for off := int64(0); off < src.Size(); {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(int64(len(buf)), src.Size()-off)
		if k, err := src.ReadAt(buf[:n], off); int64(k) < n {
			return fmt.Errorf("testfmt: read at %d: %v", off+int64(k), err)
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return err
		}
		off += n
		if o.Progress != nil {
			o.Progress(off, src.Size())
		}
	}
	return nil
}
