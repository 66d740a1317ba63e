package lvm

import (
	"fmt"
	"math/bits"
	"strings"
)

// Bounds of one volume group's metadata.
const (
	MaxPVs      = 256
	MaxLVs      = 4096
	MaxSegments = 16384 // in all LVs together
)

// VG is a volume group as its metadata text describes it. Sizes are in 512-byte sectors,
// as in the metadata.
type VG struct {
	Name       string
	ID         string // uuid with dashes, as written
	Seqno      int64
	ExtentSize uint64 // sectors
	PVs        []PVMeta
	LVs        []LV
}

// PVMeta is one physical volume of a VG's metadata.
type PVMeta struct {
	Name    string // pv0, pv1, ...
	ID      string // uuid, dashes removed
	DevSize uint64 // sectors
	PEStart uint64 // sectors
	PECount uint64
}

// LV is a logical volume with its segments, in order.
type LV struct {
	Name     string
	ID       string
	Status   []string
	Segments []Segment
}

// Segment maps ExtentCount extents of an LV from StartExtent on.
type Segment struct {
	StartExtent, ExtentCount uint64
	Type                     string // "striped" for linear and striped segments
	StripeCount              int
	Stripes                  []Stripe
}

// Stripe is one area of a striped segment: PV name and first physical extent.
type Stripe struct {
	PV     string
	Extent uint64
}

// PV returns the VG's PV named name (pv0...), or nil.
func (vg *VG) PV(name string) *PVMeta {
	for i := range vg.PVs {
		if vg.PVs[i].Name == name {
			return &vg.PVs[i]
		}
	}
	return nil
}

// LV returns the VG's LV named name, or nil.
func (vg *VG) LV(name string) *LV {
	for i := range vg.LVs {
		if vg.LVs[i].Name == name {
			return &vg.LVs[i]
		}
	}
	return nil
}

// Visible reports whether the LV is one users see (not an internal part of another LV).
func (lv *LV) Visible() bool {
	for _, s := range lv.Status {
		if s == "VISIBLE" {
			return true
		}
	}
	return false
}

func mul(a, b uint64) (uint64, bool) {
	hi, lo := bits.Mul64(a, b)
	return lo, hi == 0
}

func add(a, b uint64) (uint64, bool) {
	s, c := bits.Add64(a, b, 0)
	return s, c == 0
}

func intOf(sec *Node, key string, where string) (uint64, error) {
	n := sec.Child(key)
	if n == nil || n.Value == nil {
		return 0, fmt.Errorf("%s: no %s", where, key)
	}
	if n.Value.Kind != 'i' || n.Value.Int < 0 {
		return 0, fmt.Errorf("%s: %s = %s is not a non-negative integer", where, key, n.Value)
	}
	return uint64(n.Value.Int), nil
}

func strOf(sec *Node, key string) string {
	if n := sec.Child(key); n != nil && n.Value != nil && n.Value.Kind == 's' {
		return n.Value.Str
	}
	return ""
}

// ParseMetadata parses the LVM2 text metadata of one VG (import_vsn1's format: one section
// named after the VG holding physical_volumes and logical_volumes, and top-level keys
// contents and version) and checks it: bounds on PVs, LVs and segments, every segment
// inside its PV's extents, segments of an LV in order, all arithmetic without overflow.
func ParseMetadata(text []byte) (*VG, error) {
	root, err := ParseConfig(text)
	if err != nil {
		return nil, err
	}
	if v := root.Child("version"); v != nil && (v.Value == nil || v.Value.Kind != 'i' || v.Value.Int != 1) {
		return nil, fmt.Errorf("metadata version is not 1")
	}
	if c := strOf(root, "contents"); c != "" && c != "Text Format Volume Group" {
		return nil, fmt.Errorf("metadata contents %q is not a volume group", c)
	}
	var sec *Node
	for _, c := range root.Children {
		if c.Children != nil {
			if sec != nil {
				return nil, fmt.Errorf("metadata holds more than one volume group (%s, %s)", sec.Key, c.Key)
			}
			sec = c
		}
	}
	if sec == nil {
		return nil, fmt.Errorf("metadata holds no volume group section")
	}
	vg := &VG{Name: sec.Key, ID: strOf(sec, "id")}
	if !validName(vg.Name) {
		return nil, fmt.Errorf("volume group name %q is not a valid LVM name", vg.Name)
	}
	where := "VG " + vg.Name
	if n := sec.Child("seqno"); n != nil && n.Value != nil && n.Value.Kind == 'i' {
		vg.Seqno = n.Value.Int
	}
	if vg.ExtentSize, err = intOf(sec, "extent_size", where); err != nil {
		return nil, err
	}
	if vg.ExtentSize == 0 || vg.ExtentSize > 1<<32 {
		return nil, fmt.Errorf("%s: extent_size %d sectors is out of range", where, vg.ExtentSize)
	}
	pvs := sec.Child("physical_volumes")
	if pvs == nil || pvs.Children == nil {
		return nil, fmt.Errorf("%s: no physical_volumes section", where)
	}
	for _, n := range pvs.Children {
		if n.Children == nil {
			continue
		}
		if len(vg.PVs) == MaxPVs {
			return nil, fmt.Errorf("%s: more than %d physical volumes", where, MaxPVs)
		}
		w := where + " PV " + n.Key
		pv := PVMeta{Name: n.Key, ID: strings.ReplaceAll(strOf(n, "id"), "-", "")}
		if vg.PV(pv.Name) != nil {
			return nil, fmt.Errorf("%s: listed twice", w)
		}
		if !validUUID(pv.ID) {
			return nil, fmt.Errorf("%s: id %q is not a PV uuid", w, strOf(n, "id"))
		}
		if pv.PEStart, err = intOf(n, "pe_start", w); err != nil {
			return nil, err
		}
		if pv.PECount, err = intOf(n, "pe_count", w); err != nil {
			return nil, err
		}
		pv.DevSize, _ = intOf(n, "dev_size", w)
		data, ok := mul(pv.PECount, vg.ExtentSize)
		end, ok2 := add(pv.PEStart, data)
		if !ok || !ok2 || end > 1<<53 { // 4 EiB: byte offsets stay within int64
			return nil, fmt.Errorf("%s: pe_start %d + pe_count %d × extent_size %d overflows", w, pv.PEStart, pv.PECount, vg.ExtentSize)
		}
		if pv.DevSize > 0 && end > pv.DevSize {
			return nil, fmt.Errorf("%s: its %d extents end at sector %d, past its dev_size %d", w, pv.PECount, end, pv.DevSize)
		}
		vg.PVs = append(vg.PVs, pv)
	}
	lvs := sec.Child("logical_volumes")
	if lvs == nil {
		return vg, nil
	}
	nsegs := 0
	for _, n := range lvs.Children {
		if n.Children == nil {
			continue
		}
		if len(vg.LVs) == MaxLVs {
			return nil, fmt.Errorf("%s: more than %d logical volumes", where, MaxLVs)
		}
		lv := LV{Name: n.Key, ID: strOf(n, "id")}
		w := "LV " + vg.Name + "/" + lv.Name
		if !validName(lv.Name) {
			return nil, fmt.Errorf("%s: not a valid LVM name", w)
		}
		if vg.LV(lv.Name) != nil {
			return nil, fmt.Errorf("%s: listed twice", w)
		}
		if st := n.Child("status"); st != nil && st.Value != nil {
			for _, v := range st.Value.Array {
				lv.Status = append(lv.Status, v.Str)
			}
		}
		var next uint64
		for _, s := range n.Children {
			if s.Children == nil {
				continue
			}
			if nsegs++; nsegs > MaxSegments {
				return nil, fmt.Errorf("%s: more than %d segments in the VG", where, MaxSegments)
			}
			seg, err := parseSegment(vg, s, w+" "+s.Key)
			if err != nil {
				return nil, err
			}
			if seg.StartExtent != next {
				return nil, fmt.Errorf("%s %s: start_extent %d, expected %d", w, s.Key, seg.StartExtent, next)
			}
			next = seg.StartExtent + seg.ExtentCount
			lv.Segments = append(lv.Segments, seg)
		}
		vg.LVs = append(vg.LVs, lv)
	}
	return vg, nil
}

func parseSegment(vg *VG, s *Node, w string) (Segment, error) {
	var seg Segment
	var err error
	if seg.StartExtent, err = intOf(s, "start_extent", w); err != nil {
		return seg, err
	}
	if seg.ExtentCount, err = intOf(s, "extent_count", w); err != nil {
		return seg, err
	}
	if seg.ExtentCount == 0 || seg.StartExtent > 1<<40 || seg.ExtentCount > 1<<40 {
		return seg, fmt.Errorf("%s: start_extent %d, extent_count %d out of range", w, seg.StartExtent, seg.ExtentCount)
	}
	seg.Type = strOf(s, "type")
	if seg.Type != "striped" {
		return seg, nil // other types (mirror, raid, thin, snapshot...) are named when mapped
	}
	sc, err := intOf(s, "stripe_count", w)
	if err != nil {
		return seg, err
	}
	if sc == 0 || sc > MaxPVs {
		return seg, fmt.Errorf("%s: stripe_count %d out of range", w, sc)
	}
	seg.StripeCount = int(sc)
	if seg.ExtentCount%sc != 0 {
		return seg, fmt.Errorf("%s: extent_count %d is not a multiple of stripe_count %d", w, seg.ExtentCount, sc)
	}
	per := seg.ExtentCount / sc
	st := s.Child("stripes")
	if st == nil || st.Value == nil || st.Value.Kind != 'a' || len(st.Value.Array) != 2*int(sc) {
		return seg, fmt.Errorf("%s: stripes does not list %d [pv, extent] pairs", w, sc)
	}
	for i := 0; i < int(sc); i++ {
		name, ext := st.Value.Array[2*i], st.Value.Array[2*i+1]
		if name.Kind != 's' || ext.Kind != 'i' || ext.Int < 0 {
			return seg, fmt.Errorf("%s: stripe %d is not a [pv, extent] pair", w, i)
		}
		pv := vg.PV(name.Str)
		if pv == nil {
			return seg, fmt.Errorf("%s: stripe %d is on %q, which is no PV of the VG", w, i, name.Str)
		}
		if end, ok := add(uint64(ext.Int), per); !ok || end > pv.PECount {
			return seg, fmt.Errorf("%s: stripe %d, extents %d+%d, runs past the end of %s (%d extents)", w, i, ext.Int, per, pv.Name, pv.PECount)
		}
		seg.Stripes = append(seg.Stripes, Stripe{PV: name.Str, Extent: uint64(ext.Int)})
	}
	return seg, nil
}

// validName checks an LVM VG or LV name: [A-Za-z0-9+_.-], not starting with '-', at most
// 127 characters, not "." or "..".
func validName(s string) bool {
	if s == "" || len(s) > 127 || s[0] == '-' || s == "." || s == ".." {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("+_.-", c) >= 0) {
			return false
		}
	}
	return true
}
