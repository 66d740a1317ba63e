package diskimage

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"os"
	"strings"
	"sync"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"
)

// qcow2 writer: version 3, 16-bit refcounts, no backing file, no snapshots, no extensions.
//
// The host file is laid out metadata first:
//
//	header | refcount table | L1 | refcount blocks | L2 tables | data clusters
//
// The metadata is sized from the extent map before any data is read: one L2 table per L2
// range holding at least one cluster that intersects a Data extent (the "candidate"
// clusters), and enough refcount blocks for the largest file the data can produce (a
// fixed-point loop, since refcount blocks count themselves). Every metadata cluster is
// used and has refcount 1.
//
// Two ways of filling it:
//
//   - stream (dst is not a regular file, no compression): every candidate cluster is
//     stored, in guest order, so all metadata is known up front and written first; the
//     output is strictly sequential and its size is known before the first byte
//     (qcow2Size). All-zero candidate clusters are stored as zeros.
//   - file (a regular *os.File; required for compression): data clusters are appended in
//     guest order and all-zero clusters are left unallocated; each L2 table and refcount
//     block is written into its reserved slot as soon as the data cursor has passed the
//     range it describes, so memory stays at one L2 table and a few refcount blocks.
//
// Compressed clusters (qemu's conventions): type zlib is raw deflate with no zlib header
// and a 4 KiB window (qemu inflates with windowBits -12), type zstd is one zstd frame and
// sets incompatible bit 3 and the header's compression_type byte. Clusters are compressed
// in parallel by the unit pipeline; a cluster that does not shrink below the cluster size
// is stored uncompressed (cluster aligned). Compressed payloads are packed byte-wise and
// may cross host clusters; every host cluster a payload's sectors touch gets one
// reference. L1 and standard L2 entries carry OFLAG_COPIED (refcount 1); compressed
// entries must not.

type qcow2Writer struct{}

const (
	qcow2DefaultCluster = 64 << 10
	qcow2HeaderLen      = 112
	qcow2OflagCopied    = 1 << 63
	qcow2OflagComp      = 1 << 62
	qcow2JobBytes       = 2 << 20 // guest bytes per pipeline job
)

func (qcow2Writer) NeedsSeek(o WriteOptions) bool {
	c := strings.ToLower(o.Compression)
	return c != "" && c != "none"
}

func (w qcow2Writer) Write(ctx context.Context, dst io.Writer, src Image, o WriteOptions) error {
	exts, err := prepare(ctx, src)
	if err != nil {
		return err
	}
	comp, err := qcow2Compression(o.Compression)
	if err != nil {
		return err
	}
	l, err := newQcow2Layout(src.Size(), exts, o.ClusterSize, comp != "")
	if err != nil {
		return err
	}
	l.comp = comp
	if f, ok := dst.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			return l.writeFile(ctx, f, src, exts, o)
		}
	}
	if comp != "" {
		return fmt.Errorf("compressed qcow2 needs a seekable regular file (its metadata follows the data)")
	}
	return l.writeStream(ctx, dst, src, exts, o)
}

// Qcow2Size returns the exact size of the uncompressed qcow2 file that the qcow2 writer
// streams for src to a non-seekable writer (for a Content-Length or a tar header).
func Qcow2Size(ctx context.Context, src Image, o WriteOptions) (int64, error) {
	exts, err := prepare(ctx, src)
	if err != nil {
		return 0, err
	}
	l, err := newQcow2Layout(src.Size(), exts, o.ClusterSize, false)
	if err != nil {
		return 0, err
	}
	return (l.dataStart + l.candidates) * l.cs, nil
}

func qcow2Compression(c string) (string, error) {
	switch c = strings.ToLower(strings.TrimSpace(c)); c {
	case "", "none":
		return "", nil
	case "zlib", "deflate":
		return "zlib", nil
	case "zstd":
		return "zstd", nil
	}
	return "", fmt.Errorf("qcow2 compression %q (want none, zlib or zstd)", c)
}

// qcow2Layout is the host file layout, in clusters.
type qcow2Layout struct {
	size       int64
	cs         int64 // cluster size
	bits       uint  // cluster bits
	l2e        int64 // entries per L2 table
	rbe        int64 // entries per refcount block
	l1Size     int64 // L1 entries
	rt, rtN    int64 // refcount table
	l1, l1N    int64 // L1 table
	rb, rbN    int64 // refcount blocks
	l2, l2N    int64 // L2 tables
	dataStart  int64 // first data cluster
	candidates int64 // clusters intersecting Data extents
	l2Slot     []int32
	comp       string
}

func newQcow2Layout(size int64, exts []Extent, clusterSize int, compressed bool) (*qcow2Layout, error) {
	if clusterSize == 0 {
		clusterSize = qcow2DefaultCluster
	}
	if clusterSize < 512 || clusterSize > 2<<20 || clusterSize&(clusterSize-1) != 0 {
		return nil, fmt.Errorf("qcow2 cluster size %d (want a power of two from 512 to 2 MiB)", clusterSize)
	}
	cs := int64(clusterSize)
	l := &qcow2Layout{size: size, cs: cs, bits: uint(bits.TrailingZeros64(uint64(cs))), l2e: cs / 8, rbe: cs / 2}
	perL2 := cs * l.l2e
	l.l1Size = (size + perL2 - 1) / perL2
	if l.l1Size*8 > qcow2MaxL1Bytes {
		return nil, fmt.Errorf("image of %d bytes needs an L1 table larger than qemu's limit with %d-byte clusters", size, cs)
	}
	l.l2Slot = make([]int32, l.l1Size)
	for i := range l.l2Slot {
		l.l2Slot[i] = -1
	}
	forEachCandidate(exts, cs, func(first, last int64) {
		l.candidates += last - first
		for t := first / l.l2e; t <= (last-1)/l.l2e; t++ {
			if l.l2Slot[t] < 0 {
				l.l2Slot[t] = int32(l.l2N)
				l.l2N++
			}
		}
	})
	l.l1N = (l.l1Size*8 + cs - 1) / cs
	maxData := l.candidates
	if compressed {
		// Alignment of uncompressed clusters after packed compressed bytes can waste up
		// to one host cluster per stored cluster; the bound only reserves refcount blocks.
		maxData = 2*l.candidates + 2
	}
	l.rbN = 1
	for {
		l.rtN = (l.rbN*8 + cs - 1) / cs
		total := 1 + l.rtN + l.l1N + l.rbN + l.l2N + maxData
		need := (total + l.rbe - 1) / l.rbe
		if need <= l.rbN {
			break
		}
		l.rbN = need
	}
	l.rt = 1
	l.l1 = l.rt + l.rtN
	l.rb = l.l1 + l.l1N
	l.l2 = l.rb + l.rbN
	l.dataStart = l.l2 + l.l2N
	return l, nil
}

// forEachCandidate calls fn for the runs [first, last) of clusters intersecting Data
// extents, ascending and disjoint, in the same order as runUnits visits them.
func forEachCandidate(exts []Extent, cs int64, fn func(first, last int64)) {
	next := int64(0)
	for _, e := range exts {
		if e.Kind != Data {
			continue
		}
		first := max(e.Offset/cs, next)
		last := (e.Offset + e.Length + cs - 1) / cs
		if first < last {
			fn(first, last)
			next = last
		}
	}
}

func (l *qcow2Layout) header() []byte {
	b := make([]byte, l.cs)
	be := binary.BigEndian
	copy(b, "QFI\xfb")
	be.PutUint32(b[4:], 3)
	be.PutUint32(b[20:], uint32(l.bits))
	be.PutUint64(b[24:], uint64(l.size))
	be.PutUint32(b[36:], uint32(l.l1Size))
	be.PutUint64(b[40:], uint64(l.l1*l.cs))
	be.PutUint64(b[48:], uint64(l.rt*l.cs))
	be.PutUint32(b[56:], uint32(l.rtN))
	if l.comp == "zstd" {
		be.PutUint64(b[72:], qcow2IncompatCompression)
		b[104] = 1
	}
	be.PutUint32(b[96:], 4) // refcount_order: 16-bit refcounts
	be.PutUint32(b[100:], qcow2HeaderLen)
	// b[112:120] = 0: end of header extensions.
	return b
}

func (l *qcow2Layout) refTable() []byte {
	b := make([]byte, l.rtN*l.cs)
	for j := int64(0); j < l.rbN; j++ {
		binary.BigEndian.PutUint64(b[j*8:], uint64((l.rb+j)*l.cs))
	}
	return b
}

func (l *qcow2Layout) l1Table() []byte {
	b := make([]byte, l.l1N*l.cs)
	for t, s := range l.l2Slot {
		if s >= 0 {
			binary.BigEndian.PutUint64(b[t*8:], uint64((l.l2+int64(s))*l.cs)|qcow2OflagCopied)
		}
	}
	return b
}

// refBlock returns refcount block j with the metadata clusters set to 1 and the data
// clusters [dataStart, dataStart+dataN) set to 1 (stream layout).
func (l *qcow2Layout) refBlock(b []byte, j, dataN int64) []byte {
	clear(b)
	lo, hi := j*l.rbe, (j+1)*l.rbe
	end := l.dataStart + dataN
	for c := max(lo, 0); c < min(hi, end); c++ {
		binary.BigEndian.PutUint16(b[(c-lo)*2:], 1)
	}
	return b
}

// writeStream writes the stream layout sequentially to dst.
func (l *qcow2Layout) writeStream(ctx context.Context, dst io.Writer, src Image, exts []Extent, o WriteOptions) error {
	s, err := newSink(dst)
	if err != nil {
		return err
	}
	defer s.close()
	if err := s.write(l.header()); err != nil {
		return err
	}
	if err := s.write(l.refTable()); err != nil {
		return err
	}
	if err := s.write(l.l1Table()); err != nil {
		return err
	}
	blk := make([]byte, l.cs)
	for j := int64(0); j < l.rbN; j++ {
		if err := s.write(l.refBlock(blk, j, l.candidates)); err != nil {
			return err
		}
	}
	// L2 tables, in slot order (= ascending L2 index): the k-th candidate cluster is
	// stored at data cluster k.
	k := int64(0)
	cur := int64(-1)
	var werr error
	flushL2 := func() {
		if cur >= 0 && werr == nil {
			werr = s.write(blk)
		}
		clear(blk)
	}
	clear(blk)
	forEachCandidate(exts, l.cs, func(first, last int64) {
		for c := first; c < last; c++ {
			if t := c / l.l2e; t != cur {
				flushL2()
				cur = t
			}
			binary.BigEndian.PutUint64(blk[(c%l.l2e)*8:], uint64((l.dataStart+k)*l.cs)|qcow2OflagCopied)
			k++
		}
	})
	flushL2()
	if werr != nil {
		return werr
	}
	if s.pos != l.dataStart*l.cs {
		return fmt.Errorf("qcow2 writer: metadata ends at %d, want %d", s.pos, l.dataStart*l.cs)
	}
	var stored int64
	emit := func(w *unitWork) error {
		stored += w.n / l.cs
		return s.write(w.data[:w.n])
	}
	noop := func(*unitWork) error { return nil }
	if err := runUnits(ctx, src, exts, l.cs, l.batch(), max(4, o.workers()), noop, emit, o.Progress); err != nil {
		return err
	}
	if stored != l.candidates {
		return fmt.Errorf("qcow2 writer: stored %d clusters, planned %d", stored, l.candidates)
	}
	if o.Progress != nil {
		o.Progress(l.size, l.size)
	}
	return s.finish()
}

func (l *qcow2Layout) batch() int { return int(max(1, qcow2JobBytes/l.cs)) }

// Per-cluster marks of a job (unitWork.marks holds triples kind, start, end).
const (
	qmZero = iota // all zero: not stored
	qmRaw         // stored uncompressed: data[start:end]
	qmComp        // stored compressed: out[start:end]
)

// qcow2FileWriter holds the state of writeFile.
type qcow2FileWriter struct {
	*qcow2Layout
	f       *os.File
	cursor  int64 // next free host byte
	pending []byte
	pendOff int64
	l2buf   []byte
	l2Cur   int64
	blocks  map[int64][]byte // refcount blocks being filled
	held    int64            // refcount blocks [0, held) cover metadata: written last
}

func (w *qcow2FileWriter) put(b []byte, off int64) error {
	if len(w.pending) > 0 && (off != w.pendOff+int64(len(w.pending)) || len(w.pending)+len(b) > cap(w.pending)) {
		if err := w.flush(); err != nil {
			return err
		}
	}
	if len(w.pending) == 0 {
		w.pendOff = off
	}
	if len(b) > cap(w.pending) {
		return writeNonZero(w.f, b, off)
	}
	w.pending = append(w.pending, b...)
	return nil
}

func (w *qcow2FileWriter) flush() error {
	if len(w.pending) == 0 {
		return nil
	}
	err := writeNonZero(w.f, w.pending, w.pendOff)
	w.pending = w.pending[:0]
	return err
}

// ref adds one reference to each host cluster of [off, off+n).
func (w *qcow2FileWriter) ref(off, n int64) error {
	for c := off / w.cs; c <= (off+n-1)/w.cs; c++ {
		j := c / w.rbe
		if j >= w.rbN {
			return fmt.Errorf("qcow2 writer: host cluster %d beyond the reserved refcount blocks", c)
		}
		b := w.blocks[j]
		if b == nil {
			b = make([]byte, w.cs)
			w.blocks[j] = b
		}
		i := (c - j*w.rbe) * 2
		v := binary.BigEndian.Uint16(b[i:])
		if v == 0xffff {
			return fmt.Errorf("qcow2 writer: refcount overflow at host cluster %d", c)
		}
		binary.BigEndian.PutUint16(b[i:], v+1)
	}
	return nil
}

// retire writes the refcount blocks entirely below host cluster c (except held ones).
func (w *qcow2FileWriter) retire(c int64) error {
	for j, b := range w.blocks {
		if j >= w.held && (j+1)*w.rbe <= c {
			if err := w.flush(); err != nil {
				return err
			}
			if err := writeNonZero(w.f, b, (w.rb+j)*w.cs); err != nil {
				return err
			}
			delete(w.blocks, j)
		}
	}
	return nil
}

// setL2 records the L2 entry of guest cluster c, writing out finished tables.
func (w *qcow2FileWriter) setL2(c int64, entry uint64) error {
	if t := c / w.l2e; t != w.l2Cur {
		if err := w.flushL2(); err != nil {
			return err
		}
		w.l2Cur = t
	}
	binary.BigEndian.PutUint64(w.l2buf[(c%w.l2e)*8:], entry)
	return nil
}

func (w *qcow2FileWriter) flushL2() error {
	if w.l2Cur >= 0 {
		slot := w.l2Slot[w.l2Cur]
		if slot < 0 {
			return fmt.Errorf("qcow2 writer: no L2 table reserved for L1 index %d", w.l2Cur)
		}
		if err := w.flush(); err != nil {
			return err
		}
		if err := writeNonZero(w.f, w.l2buf, (w.l2+int64(slot))*w.cs); err != nil {
			return err
		}
	}
	clear(w.l2buf)
	w.l2Cur = -1
	return nil
}

// compressor returns the per-cluster compression function (nil when uncompressed) and
// its cleanup.
func (l *qcow2Layout) compressor(o WriteOptions, workers int) (func(dst *bytes.Buffer, src []byte) error, func(), error) {
	switch l.comp {
	case "zlib":
		var pool sync.Pool
		return func(dst *bytes.Buffer, src []byte) error {
			fw, _ := pool.Get().(*flate.Writer)
			if fw == nil {
				var err error
				// qemu inflates with windowBits -12: no match may reach back beyond 4 KiB.
				if fw, err = flate.NewWriterWindow(dst, 4096); err != nil {
					return err
				}
			} else {
				fw.Reset(dst)
			}
			defer pool.Put(fw)
			if _, err := fw.Write(src); err != nil {
				return err
			}
			return fw.Close()
		}, func() {}, nil
	case "zstd":
		lvl := zstd.SpeedDefault
		if o.Level > 0 {
			lvl = zstd.EncoderLevelFromZstd(o.Level)
		}
		// No frame checksum: qemu does not check it, and it costs ~5% of the encoding.
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(workers), zstd.WithEncoderLevel(lvl), zstd.WithEncoderCRC(false),
			zstd.WithWindowSize(max(zstd.MinWindowSize, int(l.cs))))
		if err != nil {
			return nil, nil, err
		}
		return func(dst *bytes.Buffer, src []byte) error {
			b := enc.EncodeAll(src, dst.AvailableBuffer())
			dst.Write(b)
			return nil
		}, func() { enc.Close() }, nil
	}
	return nil, func() {}, nil
}

// writeFile writes into a regular file: data appended and compacted, tables patched.
func (l *qcow2Layout) writeFile(ctx context.Context, f *os.File, src Image, exts []Extent, o WriteOptions) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	workers := o.workers()
	compress, closeComp, err := l.compressor(o, workers)
	if err != nil {
		return err
	}
	defer closeComp()
	w := &qcow2FileWriter{
		qcow2Layout: l, f: f,
		cursor:  l.dataStart * l.cs,
		pending: make([]byte, 0, 4<<20),
		l2buf:   make([]byte, l.cs),
		l2Cur:   -1,
		blocks:  map[int64][]byte{},
		held:    (l.dataStart + l.rbe - 1) / l.rbe,
	}
	wb := newWriteback(f)
	defer wb.stop()
	cs := l.cs
	work := func(u *unitWork) error {
		u.marks = u.marks[:0]
		out := bytes.NewBuffer(u.out[:0])
		for g := int64(0); g < u.n; g += cs {
			c := u.data[g : g+cs]
			switch {
			case IsZero(c):
				u.marks = append(u.marks, qmZero, 0, 0)
			case compress != nil:
				start := out.Len()
				if err := compress(out, c); err != nil {
					return err
				}
				if int64(out.Len()-start) < cs {
					u.marks = append(u.marks, qmComp, int64(start), int64(out.Len()))
				} else {
					out.Truncate(start)
					u.marks = append(u.marks, qmRaw, g, g+cs)
				}
			default:
				u.marks = append(u.marks, qmRaw, g, g+cs)
			}
		}
		u.out = out.Bytes()
		return nil
	}
	// Runs of uncompressed clusters are contiguous in u.data and in the file: written
	// straight from u.data, in one pwrite per run.
	runA, runZ, runOff := int64(0), int64(0), int64(0)
	flushRun := func(u *unitWork) error {
		if runZ > runA {
			if _, err := f.WriteAt(u.data[runA:runZ], runOff); err != nil {
				return err
			}
		}
		runA, runZ = 0, 0
		return nil
	}
	emit := func(u *unitWork) error {
		for i := 0; i < len(u.marks); i += 3 {
			c := u.off/cs + int64(i/3)
			a, z := u.marks[i+1], u.marks[i+2]
			switch u.marks[i] {
			case qmZero:
				continue
			case qmRaw:
				w.cursor = (w.cursor + cs - 1) / cs * cs
				if err := w.setL2(c, uint64(w.cursor)|qcow2OflagCopied); err != nil {
					return err
				}
				if err := w.ref(w.cursor, cs); err != nil {
					return err
				}
				if runZ == runA || runZ != a || runOff+(runZ-runA) != w.cursor {
					if err := flushRun(u); err != nil {
						return err
					}
					runA, runZ, runOff = a, a, w.cursor
				}
				runZ = z
				w.cursor += cs
			case qmComp:
				n := z - a
				off := w.cursor
				extra := (off+n-1)/sector - off/sector // additional 512-byte sectors
				x := 62 - (l.bits - 8)
				if uint64(extra) >= 1<<(l.bits-8) {
					return fmt.Errorf("qcow2 writer: compressed cluster of %d bytes too large", n)
				}
				if err := w.setL2(c, qcow2OflagComp|uint64(extra)<<x|uint64(off)); err != nil {
					return err
				}
				// qemu counts the sectors the payload touches; they lie in the same clusters.
				if err := w.ref(off, n); err != nil {
					return err
				}
				if err := w.put(u.out[a:z], off); err != nil {
					return err
				}
				w.cursor += n
			}
		}
		if err := flushRun(u); err != nil {
			return err
		}
		if len(w.pending) > 0 {
			wb.advance(w.pendOff) // compressed bytes still buffered from pendOff on
		} else {
			wb.advance(w.cursor)
		}
		return w.retire(w.cursor / cs)
	}
	if err := runUnits(ctx, src, exts, cs, l.batch(), workers, work, emit, o.Progress); err != nil {
		return err
	}
	if err := w.flushL2(); err != nil {
		return err
	}
	if err := w.flush(); err != nil {
		return err
	}
	if err := w.retire(1 << 62); err != nil {
		return err
	}
	// Metadata clusters, all used: refcount 1.
	for c := int64(0); c < l.dataStart; c++ {
		if err := w.ref(c*cs, 1); err != nil {
			return err
		}
	}
	for j, b := range w.blocks {
		if err := writeNonZero(f, b, (l.rb+j)*cs); err != nil {
			return err
		}
	}
	for _, m := range []struct {
		b   []byte
		off int64
	}{{l.refTable(), l.rt}, {l.l1Table(), l.l1}, {l.header(), 0}} {
		if err := writeNonZero(f, m.b, m.off*cs); err != nil {
			return err
		}
	}
	end := max(l.dataStart*cs, (w.cursor+cs-1)/cs*cs)
	if err := f.Truncate(end); err != nil {
		return err
	}
	if o.Progress != nil {
		o.Progress(l.size, l.size)
	}
	return nil
}
