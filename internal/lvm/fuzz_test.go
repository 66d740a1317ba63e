package lvm

import (
	"strings"
	"testing"
)

// FuzzMetadata feeds arbitrary text through the metadata parser and the mapping: no panic,
// every LV mapped lies inside its PV device, and no two overlap.
//
//	go test -fuzz FuzzMetadata ./internal/lvm/
func FuzzMetadata(f *testing.F) {
	good := vgText("guestvg", 2048, [][3]any{{uuidA, 2048, 15}}, []lvSpec{
		{name: "root", segs: [][4]uint64{{0, 10, 0, 0}}},
		{name: "var", segs: [][4]uint64{{0, 2, 0, 10}, {2, 3, 0, 12}}},
	})
	f.Add(good)
	f.Add(strings.Replace(good, "extent_count = 10", "extent_count = -1", 1))
	f.Add("a { b = [ 'x\\'y', -3, \"z\" ] c { } }\n# c\n")
	f.Add(strings.Repeat("[", 100))
	f.Add("vg { extent_size = 1 physical_volumes { pv0 { id = \"" + uuidA + "\" pe_start = 0 pe_count = 18446744073709551615 } } }")
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) > MaxMetadataSize {
			return
		}
		vg, err := ParseMetadata([]byte(text))
		if err != nil {
			return
		}
		const size = 16 << 20
		pv := &PV{Device: Device{Name: "p", Size: size}, UUID: uuidA, VG: vg}
		vols, err := Map([]*PV{pv})
		if err != nil {
			return
		}
		for i, v := range vols {
			if v.Err == nil && (v.Offset < 0 || v.Size <= 0 || v.Offset+v.Size > size) {
				t.Fatalf("%s mapped to [%d, +%d) of a %d-byte PV", v.Name(), v.Offset, v.Size, size)
			}
			for _, w := range vols[:i] {
				if v.Err == nil && w.Err == nil && v.Offset < w.Offset+w.Size && w.Offset < v.Offset+v.Size {
					t.Fatalf("%s and %s overlap", v.Name(), w.Name())
				}
			}
		}
	})
}

// FuzzReadPV feeds arbitrary first 64 KiB of a device (label, pv_header, metadata area
// header and text) through ReadPV and Map: no panic, no read outside the device, and every
// LV mapped lies inside it.
//
//	go test -fuzz FuzzReadPV ./internal/lvm/
func FuzzReadPV(f *testing.F) {
	text := vgText("guestvg", 16, [][3]any{{uuidA, 48, 4}}, []lvSpec{{name: "root", segs: [][4]uint64{{0, 2, 0, 1}}}})
	f.Add(synthPV(uuidA, 64<<10, 16<<10, 512, text))
	f.Add(synthPV(uuidA, 64<<10, 8<<10, 8<<10-100, text))
	f.Add(make([]byte, 4096))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 64<<10 {
			return
		}
		pv, err := ReadPV(device("p", b))
		if err != nil {
			return
		}
		vols, err := Map([]*PV{pv})
		if err != nil {
			return
		}
		for _, v := range vols {
			if v.Err == nil && (v.Offset < 0 || v.Size <= 0 || v.Offset+v.Size > int64(len(b))) {
				t.Fatalf("%s mapped to [%d, +%d) of a %d-byte PV", v.Name(), v.Offset, v.Size, len(b))
			}
		}
	})
}
