package lvm

import (
	"fmt"
	"sort"
	"strings"
)

// Volume is a logical volume mapped onto the PV device that holds it: bytes
// [Offset, Offset+Size) of PV.Device are the LV, as dm-linear would map them. An LV that
// cannot be mapped that way has Err set (its layout named) and no PV.
type Volume struct {
	VG, LV string
	PV     *PV
	Offset int64
	Size   int64
	Err    error
}

// Name is "vg/lv".
func (v *Volume) Name() string { return v.VG + "/" + v.LV }

// Map assembles the volume groups of pvs (the PVs found on every disk of one image: a VG
// may span disks) from their newest metadata and maps each visible logical volume. An error
// is returned for a VG whose metadata cannot be trusted as a whole (two VGs of one name, a
// PV whose extents run past its device); an LV that is not linear is returned with Err.
func Map(pvs []*PV) ([]*Volume, error) {
	newest := map[string]*VG{}
	var order []string
	for _, pv := range pvs {
		vg := pv.VG
		if vg == nil {
			continue
		}
		key := vg.ID
		if key == "" {
			key = vg.Name
		}
		old, ok := newest[key]
		if !ok {
			order = append(order, key)
		}
		if !ok || vg.Seqno > old.Seqno {
			newest[key] = vg
		}
	}
	names := map[string]bool{}
	var out []*Volume
	for _, key := range order {
		vg := newest[key]
		if names[vg.Name] {
			return nil, fmt.Errorf("two volume groups named %s on the image", vg.Name)
		}
		names[vg.Name] = true
		found := map[string]*PV{}
		for _, m := range vg.PVs {
			for _, pv := range pvs {
				if pv.UUID == m.ID {
					if found[m.Name] != nil {
						return nil, fmt.Errorf("VG %s: PV %s (%s) is on both %s and %s", vg.Name, m.Name, m.ID, found[m.Name], pv)
					}
					found[m.Name] = pv
				}
			}
			if pv := found[m.Name]; pv != nil {
				end := (m.PEStart + m.PECount*vg.ExtentSize) * sectorSize // bounded in ParseMetadata
				if end > uint64(pv.Device.Size) {
					return nil, fmt.Errorf("VG %s: PV %s on %s is %d bytes, but its extents end at byte %d", vg.Name, m.Name, pv, pv.Device.Size, end)
				}
				// The extents lie in the data area the PV's label gives (size 0: to the end).
				if len(pv.Data) > 0 {
					da := pv.Data[0]
					if m.PEStart*sectorSize < da.Offset || da.Size > 0 && (da.Offset > end || end-da.Offset > da.Size) {
						return nil, fmt.Errorf("VG %s: PV %s on %s: its extents [%d, %d) are outside the data area at %d (%d bytes) its label gives",
							vg.Name, m.Name, pv, m.PEStart*sectorSize, end, da.Offset, da.Size)
					}
				}
			}
		}
		if err := checkOverlap(vg); err != nil {
			return nil, err
		}
		for i := range vg.LVs {
			lv := &vg.LVs[i]
			if !lv.Visible() {
				continue
			}
			out = append(out, mapLV(vg, lv, found))
		}
	}
	return out, nil
}

func mapLV(vg *VG, lv *LV, found map[string]*PV) *Volume {
	v := &Volume{VG: vg.Name, LV: lv.Name}
	name := vg.Name + "/" + lv.Name
	if len(lv.Segments) == 0 {
		v.Err = fmt.Errorf("LV %s has no segments", name)
		return v
	}
	pvNames := map[string]bool{}
	for _, s := range lv.Segments {
		for _, st := range s.Stripes {
			pvNames[st.PV] = true
		}
	}
	for _, s := range lv.Segments {
		switch {
		case s.Type != "striped":
			v.Err = fmt.Errorf("LV %s has a %q segment: not supported without device-mapper", name, s.Type)
			return v
		case s.StripeCount > 1:
			v.Err = fmt.Errorf("LV %s is striped over %d areas (stripe_count %d): not supported without device-mapper", name, s.StripeCount, s.StripeCount)
			return v
		}
	}
	first := lv.Segments[0].Stripes[0]
	contiguous := len(pvNames) == 1
	for _, s := range lv.Segments[1:] {
		if s.Stripes[0].Extent != first.Extent+s.StartExtent {
			contiguous = false
		}
	}
	if !contiguous {
		ps := make([]string, 0, len(pvNames))
		for p := range pvNames {
			ps = append(ps, p)
		}
		sort.Strings(ps)
		v.Err = fmt.Errorf("LV %s has %s on %s (%s), not contiguous: not supported without device-mapper",
			name, plural(len(lv.Segments), "segment"), plural(len(ps), "PV"), strings.Join(ps, ", "))
		return v
	}
	m := vg.PV(first.PV)
	pv := found[first.PV]
	if pv == nil {
		v.Err = fmt.Errorf("LV %s is on PV %s (uuid %s), which is on no disk of the image", name, m.Name, m.ID)
		return v
	}
	last := lv.Segments[len(lv.Segments)-1]
	extents := last.StartExtent + last.ExtentCount
	if first.Extent+extents > m.PECount {
		v.Err = fmt.Errorf("LV %s runs past the end of PV %s", name, m.Name)
		return v
	}
	v.PV = pv
	v.Offset = int64((m.PEStart + first.Extent*vg.ExtentSize) * sectorSize)
	v.Size = int64(extents * vg.ExtentSize * sectorSize)
	return v
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// checkOverlap refuses metadata in which two areas (of one LV or of two) claim the same
// physical extents: LVM never writes that, and two loops over one range would let two
// mounts write the same blocks.
func checkOverlap(vg *VG) error {
	type area struct {
		pv         string
		start, end uint64
		lv         string
	}
	var areas []area
	for _, lv := range vg.LVs {
		for _, s := range lv.Segments {
			if s.StripeCount == 0 {
				continue
			}
			per := s.ExtentCount / uint64(s.StripeCount)
			for _, st := range s.Stripes {
				areas = append(areas, area{st.PV, st.Extent, st.Extent + per, lv.Name})
			}
		}
	}
	sort.Slice(areas, func(i, j int) bool {
		if areas[i].pv != areas[j].pv {
			return areas[i].pv < areas[j].pv
		}
		return areas[i].start < areas[j].start
	})
	for i := 1; i < len(areas); i++ {
		a, b := areas[i-1], areas[i]
		if a.pv == b.pv && b.start < a.end {
			return fmt.Errorf("VG %s: LVs %s and %s both claim extent %d of %s", vg.Name, a.lv, b.lv, b.start, a.pv)
		}
	}
	return nil
}
