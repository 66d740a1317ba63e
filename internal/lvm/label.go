package lvm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

const (
	sectorSize     = 512
	labelScanSects = 4 // the label is in one of the first four sectors
	labelID        = "LABELONE"
	labelType      = "LVM2 001"
	mdaHeaderSize  = 512
	mdaMagic       = " LVM2 x[5A%r0N*>"
	idLen          = 32
	maxAreas       = 8 // data or metadata areas listed in a pv_header
)

// MaxMetadataSize bounds the metadata text read from a metadata area (LVM's default area
// holds about 1 MiB; real metadata is a few KiB).
const MaxMetadataSize = 1 << 20

// ErrNotPV is returned (wrapped) when a device carries no LVM2 label.
var ErrNotPV = errors.New("no LVM2 label")

// Device is one device that may be a physical volume: a partition of a disk image, seen
// through R (offsets relative to the start of the partition), Size bytes long.
type Device struct {
	Name string // for messages: "disk.raw partition 2"
	R    io.ReaderAt
	Size int64
}

// Area is a data or metadata area of a PV: byte offset from the start of the PV and size
// (0: to the end of the device).
type Area struct{ Offset, Size uint64 }

// PV is a physical volume as its label and metadata area describe it.
type PV struct {
	Device   Device
	UUID     string // 32 characters, no dashes
	DevSize  uint64 // bytes, as the label says
	Data     []Area
	Metadata []Area
	// Text is the current metadata text of the first metadata area whose header and
	// checksum are valid; VG is its parse. Both are empty for a PV without metadata areas
	// (its VG is described by another PV's metadata).
	Text []byte
	VG   *VG
}

func (pv *PV) String() string { return pv.Device.Name }

func readAt(dev Device, off, n uint64) ([]byte, error) {
	if off > uint64(dev.Size) || n > uint64(dev.Size)-off {
		return nil, fmt.Errorf("%s: %d bytes at %d are past its end (%d bytes)", dev.Name, n, off, dev.Size)
	}
	b := make([]byte, n)
	if _, err := dev.R.ReadAt(b, int64(off)); err != nil && !(errors.Is(err, io.EOF) && n == 0) {
		return nil, fmt.Errorf("%s: read %d bytes at %d: %w", dev.Name, n, off, err)
	}
	return b, nil
}

// ReadPV reads the LVM2 label of dev, its metadata area header and the current metadata
// text, and parses it. A device without a label gives an error wrapping ErrNotPV.
func ReadPV(dev Device) (*PV, error) {
	if dev.Size < labelScanSects*sectorSize {
		return nil, fmt.Errorf("%s: %w (%d bytes)", dev.Name, ErrNotPV, dev.Size)
	}
	head, err := readAt(dev, 0, labelScanSects*sectorSize)
	if err != nil {
		return nil, err
	}
	for s := 0; s < labelScanSects; s++ {
		sec := head[s*sectorSize : (s+1)*sectorSize]
		if string(sec[:8]) != labelID {
			continue
		}
		return parseLabel(dev, uint64(s), sec)
	}
	return nil, fmt.Errorf("%s: %w in its first %d sectors", dev.Name, ErrNotPV, labelScanSects)
}

// parseLabel reads a label_header (id, sector_xl, crc_xl, offset_xl, type) and the pv_header
// it points at (uuid, device size, data and metadata area lists, each ended by a zero entry).
func parseLabel(dev Device, sector uint64, sec []byte) (*PV, error) {
	le := binary.LittleEndian
	if got := le.Uint64(sec[8:]); got != sector {
		return nil, fmt.Errorf("%s: LVM2 label in sector %d says it is in sector %d", dev.Name, sector, got)
	}
	offset := le.Uint32(sec[20:])
	if want, got := le.Uint32(sec[16:]), calcCRC(initialCRC, sec[20:]); want != got {
		return nil, fmt.Errorf("%s: LVM2 label checksum mismatch (stored %08x, computed %08x)", dev.Name, want, got)
	}
	if string(sec[24:32]) != labelType {
		return nil, fmt.Errorf("%s: LVM label type %q is not %q", dev.Name, strings.TrimRight(string(sec[24:32]), "\x00"), labelType)
	}
	if offset < 32 || offset > sectorSize-idLen-8-16 {
		return nil, fmt.Errorf("%s: LVM2 label's pv_header offset %d is outside its sector", dev.Name, offset)
	}
	ph := sec[offset:]
	pv := &PV{Device: dev, UUID: string(ph[:idLen]), DevSize: le.Uint64(ph[idLen:])}
	if !validUUID(pv.UUID) {
		return nil, fmt.Errorf("%s: PV uuid %q is not 32 characters of [A-Za-z0-9]", dev.Name, pv.UUID)
	}
	rest := ph[idLen+8:]
	var lists [2][]Area
	for i := range lists {
		for {
			if len(rest) < 16 {
				return nil, fmt.Errorf("%s: pv_header area list runs past its sector", dev.Name)
			}
			a := Area{le.Uint64(rest), le.Uint64(rest[8:])}
			rest = rest[16:]
			if a.Offset == 0 {
				break
			}
			if len(lists[i]) == maxAreas {
				return nil, fmt.Errorf("%s: pv_header lists more than %d areas", dev.Name, maxAreas)
			}
			lists[i] = append(lists[i], a)
		}
	}
	pv.Data, pv.Metadata = lists[0], lists[1]
	var errs []error
	for _, mda := range pv.Metadata {
		text, err := readMetadata(dev, mda)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		vg, err := ParseMetadata(text)
		if err != nil {
			return nil, fmt.Errorf("%s: LVM2 metadata: %w", dev.Name, err)
		}
		pv.Text, pv.VG = text, vg
		return pv, nil
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return pv, nil
}

func validUUID(s string) bool {
	if len(s) != idLen {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '!' || c == '#') {
			return false
		}
	}
	return true
}

// readMetadata reads the mda_header at mda (checksum, magic, version, start, size, raw_locn
// list) and the current metadata text its first raw_locn points at; the text may wrap from
// the end of the area to just after the header, as LVM writes it. Both checksums are
// verified.
func readMetadata(dev Device, mda Area) ([]byte, error) {
	le := binary.LittleEndian
	where := fmt.Sprintf("%s: metadata area at %d", dev.Name, mda.Offset)
	if mda.Size < 2*mdaHeaderSize {
		return nil, fmt.Errorf("%s: size %d is too small", where, mda.Size)
	}
	h, err := readAt(dev, mda.Offset, mdaHeaderSize)
	if err != nil {
		return nil, err
	}
	if want, got := le.Uint32(h), calcCRC(initialCRC, h[4:]); want != got {
		return nil, fmt.Errorf("%s: header checksum mismatch (stored %08x, computed %08x)", where, want, got)
	}
	if string(h[4:20]) != mdaMagic {
		return nil, fmt.Errorf("%s: bad magic", where)
	}
	if v := le.Uint32(h[20:]); v != 1 {
		return nil, fmt.Errorf("%s: header version %d, not 1", where, v)
	}
	if start, size := le.Uint64(h[24:]), le.Uint64(h[32:]); start != mda.Offset || size != mda.Size {
		return nil, fmt.Errorf("%s: header says start %d size %d, the label %d and %d", where, start, size, mda.Offset, mda.Size)
	}
	// raw_locn: offset (from the area start), size, checksum, flags.
	rl := h[40:64]
	off, size, sum, flags := le.Uint64(rl), le.Uint64(rl[8:]), le.Uint32(rl[16:]), le.Uint32(rl[20:])
	if off == 0 {
		return nil, fmt.Errorf("%s: no metadata in the area", where)
	}
	if flags&1 != 0 { // RAW_LOCN_IGNORED
		return nil, fmt.Errorf("%s: marked ignored", where)
	}
	if size == 0 || size > MaxMetadataSize {
		return nil, fmt.Errorf("%s: metadata text of %d bytes (at most %d)", where, size, MaxMetadataSize)
	}
	if off < mdaHeaderSize || off >= mda.Size || size > mda.Size-mdaHeaderSize {
		return nil, fmt.Errorf("%s: metadata text at %d, %d bytes, is outside the area (%d bytes)", where, off, size, mda.Size)
	}
	first := size
	if off+size > mda.Size {
		first = mda.Size - off
	}
	text, err := readAt(dev, mda.Offset+off, first)
	if err != nil {
		return nil, err
	}
	if first < size {
		wrapped, err := readAt(dev, mda.Offset+mdaHeaderSize, size-first)
		if err != nil {
			return nil, err
		}
		text = append(text, wrapped...)
	}
	if got := calcCRC(initialCRC, text); got != sum {
		return nil, fmt.Errorf("%s: metadata text checksum mismatch (stored %08x, computed %08x)", where, sum, got)
	}
	// LVM terminates the text with a NUL it counts in the size.
	return bytes.TrimRight(text, "\x00"), nil
}
