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
// streamOptimized is written in stream order and can go to a pipe (see writeVMDKStream:
// the header carries the real grain directory offset, for OpenStack). Grains are
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

// zlibWriters pools the grain compressors by level (index 1..9): a writer keeps the level it
// was made with, and the stream's two passes must compress alike.
var zlibWriters [10]sync.Pool

// VMDKPatcher is a stream destination that can rewrite bytes already written to it (an
// archive member in a seekable file): off counts from the first byte Write was given. The
// streamOptimized writer given one compresses every grain once and patches its header when
// the grain directory's offset is known; a plain stream (a pipe) costs a sizing pass
// instead, every grain compressed twice.
type VMDKPatcher interface {
	io.Writer
	PatchAt(p []byte, off int64) error
}

// vmdkStream lays out the body of a streamOptimized extent (grains, grain tables, grain
// directory, footer, end-of-stream marker) after the header and descriptor, through put.
type vmdkStream struct {
	put   func([]byte) error
	pos   int64 // bytes from the start of the extent
	gd    []byte
	gt    []byte
	curGT int64
}

func (v *vmdkStream) write(b []byte) error {
	v.pos += int64(len(b))
	return v.put(b)
}

func (v *vmdkStream) flushGT() error {
	if v.curGT < 0 {
		return nil
	}
	if err := v.write(vmdkMarker(vmdkGTEs*4/sector, vmdkMarkerGT)); err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(v.gd[v.curGT*4:], uint32(v.pos/sector))
	if err := v.write(v.gt); err != nil {
		return err
	}
	clear(v.gt)
	v.curGT = -1
	return nil
}

// writeVMDKStream writes a streamOptimized extent strictly in order: header, descriptor,
// then each non-zero grain in ascending LBA order as a grain marker + its own zlib stream
// padded to a sector, a GT marker + grain table after each 32 MiB run that has data, then
// GD marker + grain directory, footer marker + footer (a header copy) and the
// end-of-stream marker: the stream layout VMware's readers take in one sequential read.
//
// Unlike VMware's own stream writer, the header holds the real grain directory offset, not
// GD_AT_END: OpenStack's format inspector (glance/oslo format_inspector, which guards
// Glance uploads, Nova and Cinder) reads only the header as the image streams by and takes
// a GD_AT_END file for raw; qemu reads the header's offset when it is set. The offset
// depends on every grain's compressed size, so:
//   - to a regular file or a VMDKPatcher the extent is written in one pass and the header
//     patched at the end;
//   - to a plain stream a first pass compresses the grains only to add up their sizes
//     (nothing kept but the sum), then the second writes; the compressor is deterministic
//     and the second pass checks it lands the directory where the header said.
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
	desc, err := vmdkDescriptor("streamOptimized", capacity, exts, o)
	if err != nil {
		return err
	}
	s, err := newSink(dst)
	if err != nil {
		return err
	}
	defer s.close()
	const flags = 1 | vmdkFlagCompress | vmdkFlagMarkers
	const overhead = 1 + vmdkDescSectors
	header := func(gdOff uint64) []byte { return vmdkHeaderBytes(3, flags, capacity, gdOff, 0, overhead, 1) }
	perGT := int64(vmdkGTEs) * vmdkGrain
	numGTs := (size + perGT - 1) / perGT
	work := func(w *unitWork) error {
		zw, _ := zlibWriters[level].Get().(*zlib.Writer)
		out := bytes.NewBuffer(w.out[:0])
		if zw == nil {
			var err error
			if zw, err = zlib.NewWriterLevel(out, level); err != nil {
				return err
			}
		}
		defer zlibWriters[level].Put(zw)
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
	// body lays out everything after the descriptor through put and returns the grain
	// directory's sector; progress reports the pass's share of the whole write.
	body := func(put func([]byte) error, progress Progress) (uint64, error) {
		v := &vmdkStream{put: put, pos: overhead * sector, gd: make([]byte, (numGTs*4+sector-1)/sector*sector),
			gt: make([]byte, vmdkGTEs*4), curGT: -1}
		emit := func(w *unitWork) error {
			for i := 0; i < len(w.marks); i += 3 {
				g, a, z := w.marks[i], w.marks[i+1], w.marks[i+2]
				if gti := g / vmdkGTEs; gti != v.curGT {
					if err := v.flushGT(); err != nil {
						return err
					}
					v.curGT = gti
				}
				binary.LittleEndian.PutUint32(v.gt[(g%vmdkGTEs)*4:], uint32(v.pos/sector))
				if err := v.write(w.out[a:z]); err != nil {
					return err
				}
			}
			return nil
		}
		if err := runUnits(ctx, src, exts, vmdkGrain, vmdkBatch, o.workers(), work, emit, progress); err != nil {
			return 0, err
		}
		if err := v.flushGT(); err != nil {
			return 0, err
		}
		if err := v.write(vmdkMarker(uint64(len(v.gd)/sector), vmdkMarkerGD)); err != nil {
			return 0, err
		}
		gdOff := uint64(v.pos / sector)
		for _, b := range [][]byte{v.gd, vmdkMarker(1, vmdkMarkerFoot), header(gdOff), vmdkMarker(0, vmdkMarkerEOS)} {
			if err := v.write(b); err != nil {
				return 0, err
			}
		}
		return gdOff, nil
	}
	patcher, _ := dst.(VMDKPatcher)
	progress := o.Progress
	// known is the header's grain directory offset found by a sizing pass; 0 without one.
	var known uint64
	if !s.seekable() && patcher == nil {
		var sizing Progress
		if o.Progress != nil {
			sizing = func(done, total int64) { o.Progress(done/2, total) }
			progress = func(done, total int64) { o.Progress(total/2+done/2, total) }
		}
		if known, err = body(func([]byte) error { return nil }, sizing); err != nil {
			return err
		}
	}
	first := header(known)
	if known == 0 {
		// A placeholder until the patch: as VMware writes it, the footer's offset rules.
		first = header(vmdkGDAtEnd)
	}
	if err := s.write(first); err != nil {
		return err
	}
	if err := s.write(desc); err != nil {
		return err
	}
	gdOff, err := body(s.write, progress)
	if err != nil {
		return err
	}
	switch {
	case known != 0 && gdOff != known:
		return fmt.Errorf("vmdk: the grain directory landed at sector %d, not %d as the sizing pass found (compression not deterministic)", gdOff, known)
	case known == 0 && s.seekable():
		if err := s.writeAt(header(gdOff), 0); err != nil {
			return err
		}
	case known == 0:
		if err := s.flush(); err != nil {
			return err
		}
		if err := patcher.PatchAt(header(gdOff), 0); err != nil {
			return err
		}
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
