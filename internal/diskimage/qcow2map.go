package diskimage

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
)

// qcow2Map walks the L1/L2 tables of a qcow2 image itself. go-qcow2reader answers extent
// queries one cluster at a time and re-reads (with reflection) a whole extended L2 table for
// every cluster it touches; this walker reads each L2 table once, skips unallocated L1
// entries wholesale and reports extended-L2 subclusters exactly.
type qcow2Map struct {
	ra          io.ReaderAt
	info        *qcow2Info
	clusterBits uint
	clusterSize int64
	entryBytes  int64 // 8, or 16 with extended L2
	extended    bool
	l1          []uint64
	fileSize    int64  // bytes of the file: data the map may claim to hold
	name        string // "path: " of a local file, for errors
	cacheMax    int    // L2 tables cached

	mu    sync.Mutex
	cache map[uint64][]byte // L2 table host offset -> raw table
	order []uint64          // FIFO eviction
}

const (
	qcow2OffsetMask     = 0x00fffffffffffe00
	qcow2CompressedFlag = 1 << 62
	qcow2L2Cache        = 32
)

func newQcow2Map(ra io.ReaderAt, info *qcow2Info, fileSize int64) (*qcow2Map, error) {
	m := &qcow2Map{
		ra:          ra,
		fileSize:    fileSize,
		name:        nameOf(ra),
		info:        info,
		clusterBits: uint(info.ClusterBits),
		clusterSize: 1 << info.ClusterBits,
		entryBytes:  8,
		extended:    info.Incompatible&qcow2IncompatExtendedL2 != 0,
		cache:       map[uint64][]byte{},
	}
	if m.extended {
		m.entryBytes = 16
	}
	// parseQcow2Header bounded L1Size by qemu's limit and by the file size.
	raw := make([]byte, int(info.L1Size)*8)
	if _, err := ra.ReadAt(raw, int64(info.L1Offset)); err != nil {
		return nil, fmt.Errorf("%w: qcow2 L1 table: %v", ErrCorrupt, err)
	}
	m.l1 = make([]uint64, info.L1Size)
	for i := range m.l1 {
		m.l1[i] = binary.BigEndian.Uint64(raw[i*8:])
	}
	// qemu never points two L1 entries at one L2 table; a crafted image does, to map a huge
	// disk (and a huge extent map) from one table of a few kilobytes.
	need := (int64(info.Size) + m.perL2() - 1) / m.perL2()
	offs := make([]uint64, need)
	for i := range offs {
		offs[i] = m.l1[i] & qcow2OffsetMask
		if offs[i] != 0 && (int64(offs[i])%m.clusterSize != 0 || int64(offs[i]) > fileSize-m.clusterSize) {
			return nil, fmt.Errorf("%w: qcow2 L1 entry %d: L2 table at %#x is not a cluster of the %d-byte file", ErrCorrupt, i, offs[i], fileSize)
		}
	}
	if off, i, j, ok := sharedTable(offs); ok {
		return nil, fmt.Errorf("%w: qcow2 L1 entries %d and %d share the L2 table at %#x (qemu never writes this; a crafted image)", ErrCorrupt, i, j, off)
	}
	// At most 32 tables and 8 MiB of them (2 MiB clusters make 2 MiB tables).
	m.cacheMax = int(max(2, min(qcow2L2Cache, (8<<20)/m.clusterSize)))
	return m, nil
}

// perL2 is the guest bytes one L2 table maps.
func (m *qcow2Map) perL2() int64 { return m.clusterSize * (m.clusterSize / m.entryBytes) }

// table returns L2 table i, or nil if unallocated.
func (m *qcow2Map) table(i int) ([]byte, error) {
	off := m.l1[i] & qcow2OffsetMask
	if off == 0 {
		return nil, nil
	}
	m.mu.Lock()
	t, ok := m.cache[off]
	m.mu.Unlock()
	if ok {
		return t, nil
	}
	t = make([]byte, m.clusterSize)
	if _, err := m.ra.ReadAt(t, int64(off)); err != nil {
		return nil, fmt.Errorf("%w: qcow2 L2 table at %#x: %v", ErrCorrupt, off, err)
	}
	m.mu.Lock()
	if _, ok := m.cache[off]; !ok {
		if len(m.order) >= m.cacheMax {
			delete(m.cache, m.order[0])
			m.order = m.order[1:]
		}
		m.cache[off] = t
		m.order = append(m.order, off)
	}
	m.mu.Unlock()
	return t, nil
}

// cluster describes the guest cluster containing virtual offset off.
type qcow2Cluster struct {
	entry  uint64 // standard L2 entry (0 if the L2 table is unallocated)
	bitmap uint64 // extended L2 bitmap: bits 0..31 allocated, 32..63 zero
}

func (m *qcow2Map) lookup(off int64) (qcow2Cluster, error) {
	cl := off >> m.clusterBits
	perTable := m.clusterSize / m.entryBytes
	i := int(cl / perTable)
	if i >= len(m.l1) {
		return qcow2Cluster{}, fmt.Errorf("%w: offset %d beyond the L1 table", ErrCorrupt, off)
	}
	t, err := m.table(i)
	if err != nil || t == nil {
		return qcow2Cluster{}, err
	}
	j := (cl % perTable) * m.entryBytes
	c := qcow2Cluster{entry: binary.BigEndian.Uint64(t[j:])}
	if m.extended {
		c.bitmap = binary.BigEndian.Uint64(t[j+8:])
	}
	return c, nil
}

// kinds calls emit for each run of the cluster at guest offset base (clipped to size).
func (m *qcow2Map) clusterExtents(c qcow2Cluster, base int64, emit func(off, n int64, k ExtentKind)) {
	switch {
	case c.entry&qcow2CompressedFlag != 0:
		emit(base, m.clusterSize, Data)
	case m.extended:
		sub := m.clusterSize / 32
		for k := 0; k < 32; k++ {
			kind := Hole
			if c.bitmap&(1<<k) != 0 {
				kind = Data
			} else if c.bitmap&(1<<(32+k)) != 0 {
				kind = Zero
			}
			emit(base+int64(k)*sub, sub, kind)
		}
	case m.info.Version >= 3 && c.entry&1 != 0:
		emit(base, m.clusterSize, Zero)
	case c.entry&qcow2OffsetMask == 0:
		emit(base, m.clusterSize, Hole)
	default:
		emit(base, m.clusterSize, Data)
	}
}

// walk calls fn for the extents of the whole disk, in order (see extentWalker). It counts
// the host bytes the data it reports must occupy in the file and fails, naming the file,
// when they exceed the file's size: clusters shared by many guest ranges.
func (m *qcow2Map) walk(ctx context.Context, fn func(Extent) error) error {
	size := int64(m.info.Size)
	var host int64 // host bytes the Data clusters seen so far occupy at least
	var err error
	emit := func(off, n int64, k ExtentKind) {
		if off >= size || err != nil {
			return
		}
		err = fn(Extent{Offset: off, Length: min(n, size-off), Kind: k})
	}
	// x is where the compressed cluster descriptor's sector count starts.
	x := 62 - (m.clusterBits - 8)
	per := m.perL2()
	for i := 0; int64(i)*per < size; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		base := int64(i) * per
		t, terr := m.table(i)
		if terr != nil {
			return terr
		}
		if t == nil {
			emit(base, per, Hole)
			if err != nil {
				return err
			}
			continue
		}
		for j := int64(0); j < int64(len(t))/m.entryBytes && base+j*m.clusterSize < size; j++ {
			c := qcow2Cluster{entry: binary.BigEndian.Uint64(t[j*m.entryBytes:])}
			if m.extended {
				c.bitmap = binary.BigEndian.Uint64(t[j*m.entryBytes+8:])
			}
			switch {
			case c.entry&qcow2CompressedFlag != 0:
				// Compressed clusters may share sectors with their neighbours, never bytes.
				host += max(0, int64((c.entry&^(3<<62))>>x)-1)*512 + 1
			case m.extended && uint32(c.bitmap) != 0, !m.extended && m.kind(c) == Data:
				host += m.clusterSize
			}
			m.clusterExtents(c, base+j*m.clusterSize, emit)
			if err != nil {
				return err
			}
		}
		if host > m.fileSize {
			return fmt.Errorf("%s%w: qcow2 maps at least %d bytes of data but the file holds %d: clusters shared by many guest ranges (qemu never writes this; a crafted image)",
				m.name, ErrCorrupt, host, m.fileSize)
		}
	}
	return nil
}

// kind is the kind of a standard (not extended) cluster.
func (m *qcow2Map) kind(c qcow2Cluster) ExtentKind {
	switch {
	case c.entry&qcow2CompressedFlag != 0:
		return Data
	case m.info.Version >= 3 && c.entry&1 != 0:
		return Zero
	case c.entry&qcow2OffsetMask == 0:
		return Hole
	}
	return Data
}

// readExtended reads p at off from an extended-L2 image: allocated subclusters straight
// from the file, zero and unallocated ones as zeros, compressed clusters through
// the library (readCompressed).
func (m *qcow2Map) readExtended(p []byte, off int64, readCompressed func([]byte, int64) (int, error)) error {
	for len(p) > 0 {
		base := off &^ (m.clusterSize - 1)
		n := min(int64(len(p)), base+m.clusterSize-off)
		c, err := m.lookup(off)
		if err != nil {
			return err
		}
		if c.entry&qcow2CompressedFlag != 0 {
			if err := readFullFunc(readCompressed, p[:n], off); err != nil {
				return err
			}
		} else {
			host := int64(c.entry & qcow2OffsetMask)
			sub := m.clusterSize / 32
			for q := p[:n]; len(q) > 0; {
				in := off - base
				k := in / sub
				l := min(int64(len(q)), (k+1)*sub-in)
				if c.bitmap&(1<<k) != 0 {
					if host == 0 {
						return fmt.Errorf("%w: qcow2 allocated subcluster without host cluster at %d", ErrCorrupt, off)
					}
					if err := readFull(m.ra, q[:l], host+in); err != nil {
						return fmt.Errorf("%w: qcow2 data: %v", ErrCorrupt, err)
					}
				} else {
					clear(q[:l])
				}
				q = q[l:]
				off += l
			}
			p = p[n:]
			continue
		}
		p = p[n:]
		off += n
	}
	return nil
}

func readFullFunc(read func([]byte, int64) (int, error), b []byte, off int64) error {
	n, err := read(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}
