package diskimage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"
	qimage "github.com/lima-vm/go-qcow2reader/image"
	"github.com/lima-vm/go-qcow2reader/image/qcow2"
	qlog "github.com/lima-vm/go-qcow2reader/log"
)

// qcow2 input is read with github.com/lima-vm/go-qcow2reader. Before handing a file to it,
// qcow2Header checks the header ourselves: the library follows backing files and allocates
// the L1 table at the size the header claims, and we want neither.

func init() {
	Register(Format{
		Name:       "qcow2",
		Extensions: []string{".qcow2"},
		Order:      10,
		Probe: func(_ io.ReaderAt, _ int64, head []byte) bool {
			return bytes.HasPrefix(head, []byte("QFI\xfb"))
		},
		Open:         openQcow2,
		OpenReaderAt: openQcow2At,
		Writer:       qcow2Writer{},
	})
	// The library warns on stderr (e.g. "extended L2 is experimental"); we report
	// problems as errors instead.
	qlog.SetWarnFunc(nil)
	qcow2.SetDecompressor(qcow2.CompressionTypeZlib, newDeflateReader)
	qcow2.SetDecompressor(qcow2.CompressionTypeZstd, newZstdReader)
}

const (
	qcow2IncompatDirty       = 1 << 0
	qcow2IncompatCorrupt     = 1 << 1
	qcow2IncompatDataFile    = 1 << 2
	qcow2IncompatCompression = 1 << 3
	qcow2IncompatExtendedL2  = 1 << 4
	qcow2MaxL1Bytes          = 32 << 20 // qemu's QCOW_MAX_L1_SIZE
)

// qcow2Info is what we validate from a qcow2 header.
type qcow2Info struct {
	Version         uint32
	ClusterBits     uint32
	Size            uint64
	L1Size          uint32
	L1Offset        uint64
	Incompatible    uint64
	CompressionType uint8
}

// parseQcow2Header validates a qcow2 header against the file size. It refuses backing
// files, external data files, encryption, corrupt-marked images, unknown incompatible
// features and L1 tables that would not fit in the file or exceed qemu's limit.
func parseQcow2Header(ra io.ReaderAt, fileSize int64) (*qcow2Info, error) {
	var h [112]byte
	n, err := ra.ReadAt(h[:], 0)
	if n < 72 {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w: qcow2 header: %v", ErrCorrupt, err)
	}
	be := binary.BigEndian
	if string(h[:4]) != "QFI\xfb" {
		return nil, fmt.Errorf("%w: not a qcow2 image", ErrCorrupt)
	}
	q := &qcow2Info{
		Version:     be.Uint32(h[4:]),
		ClusterBits: be.Uint32(h[20:]),
		Size:        be.Uint64(h[24:]),
		L1Size:      be.Uint32(h[36:]),
		L1Offset:    be.Uint64(h[40:]),
	}
	if q.Version != 2 && q.Version != 3 {
		return nil, fmt.Errorf("%w: qcow2 version %d", ErrUnsupported, q.Version)
	}
	if q.ClusterBits < 9 || q.ClusterBits > 21 {
		return nil, fmt.Errorf("%w: qcow2 cluster_bits %d out of range 9..21", ErrCorrupt, q.ClusterBits)
	}
	clusterSize := uint64(1) << q.ClusterBits
	if backingOff := be.Uint64(h[8:]); backingOff != 0 {
		name := ""
		if l := be.Uint32(h[16:]); l > 0 && l <= 1023 {
			buf := make([]byte, l)
			if _, err := ra.ReadAt(buf, int64(backingOff)); err == nil {
				name = fmt.Sprintf(" %q", buf)
			}
		}
		return nil, fmt.Errorf("%w%s; flatten it first (qemu-img convert, or qemu-img rebase -b '')", ErrBackingFile, name)
	}
	if crypt := be.Uint32(h[32:]); crypt != 0 {
		return nil, fmt.Errorf("%w (qcow2 crypt_method %d); decrypt it first", ErrEncrypted, crypt)
	}
	if q.Version == 3 {
		if n < 104 {
			return nil, fmt.Errorf("%w: qcow2 v3 header truncated", ErrCorrupt)
		}
		q.Incompatible = be.Uint64(h[72:])
		hdrLen := be.Uint32(h[100:])
		if hdrLen < 104 || uint64(hdrLen) > clusterSize || hdrLen%8 != 0 {
			return nil, fmt.Errorf("%w: qcow2 header_length %d", ErrCorrupt, hdrLen)
		}
		if hdrLen > 104 {
			if n < 105 {
				return nil, fmt.Errorf("%w: qcow2 header truncated", ErrCorrupt)
			}
			q.CompressionType = h[104]
		}
		switch {
		case q.Incompatible&qcow2IncompatCorrupt != 0:
			return nil, fmt.Errorf("%w: qcow2 image is marked corrupt (qemu-img check -r all may repair it)", ErrCorrupt)
		case q.Incompatible&qcow2IncompatDataFile != 0:
			return nil, fmt.Errorf("%w; Glance and Nova refuse these too", ErrExternalDataFile)
		case q.Incompatible&^uint64(qcow2IncompatDirty|qcow2IncompatCompression|qcow2IncompatExtendedL2) != 0:
			return nil, fmt.Errorf("%w: qcow2 unknown incompatible features %#x", ErrUnsupported, q.Incompatible)
		case q.CompressionType > 1:
			return nil, fmt.Errorf("%w: qcow2 compression type %d", ErrUnsupported, q.CompressionType)
		case q.Incompatible&qcow2IncompatExtendedL2 != 0 && q.ClusterBits < 14:
			return nil, fmt.Errorf("%w: qcow2 extended L2 with cluster_bits %d", ErrCorrupt, q.ClusterBits)
		}
	}
	if err := checkVirtualSize("qcow2", q.Size); err != nil {
		return nil, err
	}
	entryBytes := uint64(8)
	if q.Incompatible&qcow2IncompatExtendedL2 != 0 {
		entryBytes = 16
	}
	perL2 := clusterSize * (clusterSize / entryBytes) // guest bytes mapped by one L2 table
	need := (q.Size + perL2 - 1) / perL2
	l1Bytes := uint64(q.L1Size) * 8
	switch {
	case uint64(q.L1Size) < need:
		return nil, fmt.Errorf("%w: qcow2 L1 table has %d entries, %d needed", ErrCorrupt, q.L1Size, need)
	case l1Bytes > qcow2MaxL1Bytes:
		return nil, fmt.Errorf("%w: qcow2 L1 table of %d bytes exceeds %d", ErrUnsupported, l1Bytes, qcow2MaxL1Bytes)
	case q.Size > 0 && (q.L1Offset == 0 || q.L1Offset%clusterSize != 0):
		return nil, fmt.Errorf("%w: qcow2 L1 table offset %#x", ErrCorrupt, q.L1Offset)
	case q.Size > 0 && q.L1Offset+l1Bytes > uint64(fileSize):
		return nil, fmt.Errorf("%w: qcow2 L1 table [%#x, +%d) beyond the end of the file (%d bytes)", ErrCorrupt, q.L1Offset, l1Bytes, fileSize)
	}
	return q, nil
}

type qcow2Image struct {
	f    io.Closer    // the file, or whatever backs the io.ReaderAt of OpenReaderAt
	img  qimage.Image // nil for a zero-size image
	m    *qcow2Map    // our own L1/L2 walker: extents, and reads of extended-L2 images
	info *qcow2Info
}

func openQcow2(f *os.File) (Image, error) {
	size, err := fileSize(f)
	if err != nil {
		return nil, err
	}
	return openQcow2At(f, size, f)
}

// openQcow2At opens a qcow2 image of size bytes read through ra; Close closes c.
func openQcow2At(ra io.ReaderAt, size int64, c io.Closer) (Image, error) {
	info, err := parseQcow2Header(ra, size)
	if err != nil {
		return nil, err
	}
	q := &qcow2Image{f: c, info: info}
	if info.Size == 0 {
		return q, nil
	}
	img, err := qcow2.Open(ra, nil)
	if err != nil {
		return nil, fmt.Errorf("qcow2: %w", err)
	}
	if err := img.Readable(); err != nil {
		return nil, fmt.Errorf("%w: qcow2: %v", ErrUnsupported, err)
	}
	q.img = img
	if q.m, err = newQcow2Map(ra, info, size); err != nil {
		return nil, err
	}
	return q, nil
}

func (q *qcow2Image) Format() string { return "qcow2" }
func (q *qcow2Image) Size() int64    { return int64(q.info.Size) }
func (q *qcow2Image) Close() error   { return q.f.Close() }

// Qcow2Info describes the qcow2 header of an image opened by Open, for `info` output.
type Qcow2Info struct {
	Version         int
	ClusterSize     int
	CompressionType string // "zlib" or "zstd"
	ExtendedL2      bool
}

func (q *qcow2Image) Qcow2Info() Qcow2Info {
	ct := "zlib"
	if q.info.CompressionType == 1 {
		ct = "zstd"
	}
	return Qcow2Info{
		Version:         int(q.info.Version),
		ClusterSize:     1 << q.info.ClusterBits,
		CompressionType: ct,
		ExtendedL2:      q.info.Incompatible&qcow2IncompatExtendedL2 != 0,
	}
}

func (q *qcow2Image) ReadAt(p []byte, off int64) (int, error) {
	size := q.Size()
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= size {
		return 0, io.EOF
	}
	short := false
	if rem := size - off; int64(len(p)) > rem {
		p = p[:rem]
		short = true
	}
	var n int
	var err error
	if q.m.extended {
		if err = q.m.readExtended(p, off, q.img.ReadAt); err == nil {
			n = len(p)
		}
	} else {
		n, err = q.img.ReadAt(p, off)
	}
	if n == len(p) {
		err = nil
	} else if err == nil || err == io.EOF {
		err = fmt.Errorf("%w: qcow2 short read at %d", ErrCorrupt, off+int64(n))
	}
	if err == nil && short {
		err = io.EOF
	}
	return n, err
}

func (q *qcow2Image) Extents(ctx context.Context) ([]Extent, error) { return collectExtents(ctx, q) }

func (q *qcow2Image) walkExtents(ctx context.Context, fn func(Extent) error) error {
	if q.m == nil {
		return nil
	}
	return q.m.walk(ctx, fn)
}

// Decompressors for compressed qcow2 clusters. The library hands us a reader over the
// compressed bytes (possibly followed by unrelated bytes of the next cluster); we slurp
// them into a pooled buffer and decompress with pooled klauspost decoders, which is much
// cheaper than a fresh stdlib decoder per cluster.

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

type pooledReader struct {
	io.Reader
	buf     *bytes.Buffer
	release func()
}

// Read fills p completely unless the stream ends: the library issues a single Read per
// cluster and would otherwise decompress the cluster again from its start.
func (p *pooledReader) Read(b []byte) (int, error) {
	n, err := io.ReadFull(p.Reader, b)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return n, err
}

func (p *pooledReader) Close() error {
	if p.release != nil {
		p.release()
		p.release = nil
		p.buf.Reset()
		bufPool.Put(p.buf)
	}
	return nil
}

func slurp(r io.Reader) (*bytes.Buffer, error) {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	if _, err := buf.ReadFrom(r); err != nil {
		bufPool.Put(buf)
		return nil, err
	}
	return buf, nil
}

var flatePool sync.Pool

// newDeflateReader decodes qcow2 compression type 0: raw deflate without a zlib header.
func newDeflateReader(r io.Reader) (io.ReadCloser, error) {
	buf, err := slurp(r)
	if err != nil {
		return nil, err
	}
	src := bytes.NewReader(buf.Bytes())
	var fr io.ReadCloser
	if v := flatePool.Get(); v != nil {
		fr = v.(io.ReadCloser)
		if err := fr.(flate.Resetter).Reset(src, nil); err != nil {
			return nil, err
		}
	} else {
		fr = flate.NewReader(src)
	}
	return &pooledReader{Reader: fr, buf: buf, release: func() { flatePool.Put(fr) }}, nil
}

var zstdPool sync.Pool

// newZstdReader decodes qcow2 compression type 1: one zstd frame per cluster.
func newZstdReader(r io.Reader) (io.ReadCloser, error) {
	buf, err := slurp(r)
	if err != nil {
		return nil, err
	}
	src := bytes.NewReader(buf.Bytes())
	var d *zstd.Decoder
	if v := zstdPool.Get(); v != nil {
		d = v.(*zstd.Decoder)
		if err := d.Reset(src); err != nil {
			return nil, err
		}
	} else {
		d, err = zstd.NewReader(src, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxMemory(64<<20))
		if err != nil {
			return nil, err
		}
	}
	return &pooledReader{Reader: d, buf: buf, release: func() { zstdPool.Put(d) }}, nil
}
