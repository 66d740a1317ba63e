package diskimage

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"strings"
	"sync"

	"github.com/klauspost/compress/zlib"
)

// VMDK writer: streamOptimized (default) and monolithicSparse, one sparse extent of
// 64 KiB grains and 512-entry grain tables.
//
// streamOptimized is written as a pure stream (no seeking): header with the grain
// directory "at end", descriptor, then each non-zero grain in ascending LBA order as a
// grain marker + its own zlib stream padded to a sector, a GT marker + grain table after
// each 32 MiB run that has data, then GD marker + grain directory, footer marker + footer
// (a header copy with the real GD offset) and the end-of-stream marker. Grains are
// compressed in parallel by the unit pipeline and emitted in order.
//
// monolithicSparse needs a seekable file: the (redundant) grain directories and all grain
// tables are reserved up front, grains are appended uncompressed, tables written last.

type vmdkWriter struct{}

const (
	vmdkGrain       = 64 << 10
	vmdkGTEs        = 512
	vmdkDescSectors = 20
	vmdkMarkerEOS   = 0
	vmdkMarkerGT    = 1
	vmdkMarkerGD    = 2
	vmdkMarkerFoot  = 3
	vmdkBatch       = 32 // grains per pipeline job (2 MiB)
)

func (vmdkWriter) NeedsSeek(o WriteOptions) bool {
	return strings.EqualFold(o.Subformat, "monolithicSparse")
}

func (w vmdkWriter) Write(ctx context.Context, dst io.Writer, src Image, o WriteOptions) error {
	switch strings.ToLower(o.Subformat) {
	case "", "streamoptimized":
		return writeVMDKStream(ctx, dst, src, o)
	case "monolithicsparse":
		return writeVMDKSparse(ctx, dst, src, o)
	}
	return fmt.Errorf("vmdk subformat %q (want streamOptimized or monolithicSparse)", o.Subformat)
}

// vmdkHeaderBytes encodes a SparseExtentHeader sector.
func vmdkHeaderBytes(version, flags uint32, capacity, gdOffset, rgdOffset, overhead uint64, compress uint16) []byte {
	b := make([]byte, sector)
	le := binary.LittleEndian
	copy(b, vmdkMagic)
	le.PutUint32(b[4:], version)
	le.PutUint32(b[8:], flags)
	le.PutUint64(b[12:], capacity)
	le.PutUint64(b[20:], vmdkGrain/sector)
	le.PutUint64(b[28:], 1) // descriptor offset
	le.PutUint64(b[36:], vmdkDescSectors)
	le.PutUint32(b[44:], vmdkGTEs)
	le.PutUint64(b[48:], rgdOffset)
	le.PutUint64(b[56:], gdOffset)
	le.PutUint64(b[64:], overhead)
	copy(b[73:], "\n \r\n")
	le.PutUint16(b[77:], compress)
	return b
}

// vmdkDescriptor renders the embedded descriptor, NUL padded to vmdkDescSectors.
func vmdkDescriptor(createType string, capacity uint64, exts []Extent, o WriteOptions) ([]byte, error) {
	adapter := o.AdapterType
	if adapter == "" {
		adapter = "lsilogic"
	}
	switch adapter {
	case "ide", "lsilogic", "buslogic", "legacyESX", "pvscsi", "lsisas1068":
	default:
		return nil, fmt.Errorf("vmdk adapter type %q", adapter)
	}
	name := o.ExtentName
	if name == "" {
		name = "disk.vmdk"
	}
	if strings.ContainsAny(name, "\"\n") {
		return nil, fmt.Errorf("vmdk extent name %q", name)
	}
	heads, spt := uint64(255), uint64(63)
	if adapter == "ide" {
		heads = 16
	}
	cyl := min(65535, (capacity+heads*spt-1)/(heads*spt))
	// Deterministic content ID: same input, same output file.
	h := fnv.New64a()
	fmt.Fprint(h, capacity, len(exts))
	for _, e := range exts {
		fmt.Fprint(h, e.Offset, e.Length, e.Kind)
	}
	sum := h.Sum64()
	desc := fmt.Sprintf(`# Disk DescriptorFile
version=1
encoding="UTF-8"
CID=%08x
parentCID=ffffffff
createType="%s"

# Extent description
RW %d SPARSE "%s"

# The Disk Data Base
#DDB

ddb.adapterType = "%s"
ddb.geometry.cylinders = "%d"
ddb.geometry.heads = "%d"
ddb.geometry.sectors = "%d"
ddb.longContentID = "%016x%016x"
ddb.toolsInstallType = "4"
ddb.toolsVersion = "2147483647"
ddb.virtualHWVersion = "4"
`, uint32(sum), createType, capacity, name, adapter, cyl, heads, spt, sum, ^sum)
	b := make([]byte, vmdkDescSectors*sector)
	if len(desc) > len(b) {
		return nil, fmt.Errorf("vmdk descriptor too long")
	}
	copy(b, desc)
	return b, nil
}

func vmdkMarker(numSectors uint64, typ uint32) []byte {
	b := make([]byte, sector)
	binary.LittleEndian.PutUint64(b, numSectors)
	binary.LittleEndian.PutUint32(b[12:], typ)
	return b
}

var zlibWriters sync.Pool

func writeVMDKStream(ctx context.Context, dst io.Writer, src Image, o WriteOptions) error {
	exts, err := prepare(ctx, src)
	if err != nil {
		return err
	}
	size := src.Size()
	capacity := uint64((size + sector - 1) / sector)
	if capacity > uint64(vmdkGTEs)*vmdkGrain/sector*(1<<32-1)/vmdkGTEs || size > 2<<40-vmdkGrain {
		return fmt.Errorf("image of %d bytes is too large for a VMDK sparse extent (< 2 TiB)", size)
	}
	level := o.Level
	if level <= 0 || level > 9 {
		level = 6
	}
	s, err := newSink(dst)
	if err != nil {
		return err
	}
	defer s.close()
	const flags = 1 | vmdkFlagCompress | vmdkFlagMarkers
	const overhead = 1 + vmdkDescSectors
	if err := s.write(vmdkHeaderBytes(3, flags, capacity, vmdkGDAtEnd, 0, overhead, 1)); err != nil {
		return err
	}
	desc, err := vmdkDescriptor("streamOptimized", capacity, exts, o)
	if err != nil {
		return err
	}
	if err := s.write(desc); err != nil {
		return err
	}
	perGT := int64(vmdkGTEs) * vmdkGrain
	numGTs := (size + perGT - 1) / perGT
	gd := make([]byte, (numGTs*4+sector-1)/sector*sector)
	gt := make([]byte, vmdkGTEs*4)
	curGT := int64(-1)
	flushGT := func() error {
		if curGT < 0 {
			return nil
		}
		if err := s.write(vmdkMarker(vmdkGTEs*4/sector, vmdkMarkerGT)); err != nil {
			return err
		}
		binary.LittleEndian.PutUint32(gd[curGT*4:], uint32(s.pos/sector))
		if err := s.write(gt); err != nil {
			return err
		}
		clear(gt)
		curGT = -1
		return nil
	}
	work := func(w *unitWork) error {
		zw, _ := zlibWriters.Get().(*zlib.Writer)
		out := bytes.NewBuffer(w.out[:0])
		if zw == nil {
			var err error
			if zw, err = zlib.NewWriterLevel(out, level); err != nil {
				return err
			}
		}
		defer zlibWriters.Put(zw)
		w.marks = w.marks[:0]
		for g := int64(0); g < w.n; g += vmdkGrain {
			grain := w.data[g : g+vmdkGrain]
			if IsZero(grain) {
				continue
			}
			start := out.Len()
			var hdr [12]byte
			binary.LittleEndian.PutUint64(hdr[:], uint64(w.off+g)/sector)
			out.Write(hdr[:])
			zw.Reset(out)
			if _, err := zw.Write(grain); err != nil {
				return err
			}
			if err := zw.Close(); err != nil {
				return err
			}
			b := out.Bytes()
			binary.LittleEndian.PutUint32(b[start+8:], uint32(out.Len()-start-12))
			if pad := (out.Len() - start) % sector; pad != 0 {
				out.Write(zeros[:sector-pad])
			}
			w.marks = append(w.marks, (w.off+g)/vmdkGrain, int64(start), int64(out.Len()))
		}
		w.out = out.Bytes()
		return nil
	}
	emit := func(w *unitWork) error {
		for i := 0; i < len(w.marks); i += 3 {
			g, a, z := w.marks[i], w.marks[i+1], w.marks[i+2]
			if gti := g / vmdkGTEs; gti != curGT {
				if err := flushGT(); err != nil {
					return err
				}
				curGT = gti
			}
			binary.LittleEndian.PutUint32(gt[(g%vmdkGTEs)*4:], uint32(s.pos/sector))
			if err := s.write(w.out[a:z]); err != nil {
				return err
			}
		}
		return nil
	}
	if err := runUnits(ctx, src, exts, vmdkGrain, vmdkBatch, o.workers(), work, emit, o.Progress); err != nil {
		return err
	}
	if err := flushGT(); err != nil {
		return err
	}
	if err := s.write(vmdkMarker(uint64(len(gd)/sector), vmdkMarkerGD)); err != nil {
		return err
	}
	gdOff := uint64(s.pos / sector)
	if err := s.write(gd); err != nil {
		return err
	}
	if err := s.write(vmdkMarker(1, vmdkMarkerFoot)); err != nil {
		return err
	}
	if err := s.write(vmdkHeaderBytes(3, flags, capacity, gdOff, 0, overhead, 1)); err != nil {
		return err
	}
	if err := s.write(vmdkMarker(0, vmdkMarkerEOS)); err != nil {
		return err
	}
	if o.Progress != nil {
		o.Progress(size, size)
	}
	return s.finish()
}

// writeVMDKSparse writes monolithicSparse: header | descriptor | RGD | RGTs | GD | GTs |
// grains (uncompressed, grain aligned, zero grains omitted).
func writeVMDKSparse(ctx context.Context, dst io.Writer, src Image, o WriteOptions) error {
	exts, err := prepare(ctx, src)
	if err != nil {
		return err
	}
	s, err := newSink(dst)
	if err != nil {
		return err
	}
	defer s.close()
	if !s.seekable() {
		return fmt.Errorf("vmdk monolithicSparse needs a seekable regular file; use streamOptimized for streams")
	}
	size := src.Size()
	capacity := uint64((size + sector - 1) / sector)
	if size > 2<<40-vmdkGrain {
		return fmt.Errorf("image of %d bytes is too large for a VMDK sparse extent (< 2 TiB)", size)
	}
	perGT := int64(vmdkGTEs) * vmdkGrain
	numGTs := (size + perGT - 1) / perGT
	gdSectors := (numGTs*4 + sector - 1) / sector
	gtSectors := int64(vmdkGTEs * 4 / sector)
	rgd := int64(1 + vmdkDescSectors)
	rgts := rgd + gdSectors
	gdo := rgts + numGTs*gtSectors
	gts := gdo + gdSectors
	overhead := (gts + numGTs*gtSectors + vmdkGrain/sector - 1) / (vmdkGrain / sector) * (vmdkGrain / sector)
	const flags = 1 | 2 // newline test, redundant GD
	if err := s.write(vmdkHeaderBytes(1, flags, capacity, uint64(gdo), uint64(rgd), uint64(overhead), 0)); err != nil {
		return err
	}
	desc, err := vmdkDescriptor("monolithicSparse", capacity, exts, o)
	if err != nil {
		return err
	}
	if err := s.write(desc); err != nil {
		return err
	}
	if err := s.zeros(overhead*sector - s.pos); err != nil {
		return err
	}
	// All grain tables are allocated in the file, as qemu does, but only the non-empty ones
	// are kept in memory and written: the others stay holes that read as zero entries.
	tables := map[int64][]byte{}
	work := func(w *unitWork) error { return nil }
	emit := func(w *unitWork) error {
		for g := int64(0); g < w.n; g += vmdkGrain {
			grain := w.data[g : g+vmdkGrain]
			if IsZero(grain) {
				continue
			}
			gi := (w.off + g) / vmdkGrain
			t := tables[gi/vmdkGTEs]
			if t == nil {
				t = make([]byte, vmdkGTEs*4)
				tables[gi/vmdkGTEs] = t
			}
			binary.LittleEndian.PutUint32(t[(gi%vmdkGTEs)*4:], uint32(s.pos/sector))
			if err := s.data(grain); err != nil {
				return err
			}
		}
		return nil
	}
	if err := runUnits(ctx, src, exts, vmdkGrain, vmdkBatch, o.workers(), work, emit, o.Progress); err != nil {
		return err
	}
	dirs := make([]byte, gdSectors*sector)
	for _, d := range []struct{ dir, tabs int64 }{{rgd, rgts}, {gdo, gts}} {
		for i := int64(0); i < numGTs; i++ {
			binary.LittleEndian.PutUint32(dirs[i*4:], uint32(d.tabs+i*gtSectors))
		}
		if err := s.writeAt(dirs, d.dir*sector); err != nil {
			return err
		}
		for i, t := range tables {
			if err := s.writeAt(t, (d.tabs+i*gtSectors)*sector); err != nil {
				return err
			}
		}
	}
	if o.Progress != nil {
		o.Progress(size, size)
	}
	return s.finish()
}
