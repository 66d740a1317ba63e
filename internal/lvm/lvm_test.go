package lvm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

const mib = 1 << 20

// a 16 MiB PV: pe_start 1 MiB (2048 sectors), 1 MiB extents (2048 sectors), 15 extents.
func basicPV(t *testing.T, lvs []lvSpec) *PV {
	t.Helper()
	text := vgText("guestvg", 2048, [][3]any{{uuidA, 2048, 15}}, lvs)
	pv, err := ReadPV(device("p2", synthPV(uuidA, 16*mib, mib-4096, 512, text)))
	if err != nil {
		t.Fatal(err)
	}
	return pv
}

func TestLinearLVsMapToTheirExtents(t *testing.T) {
	pv := basicPV(t, []lvSpec{
		{name: "root", segs: [][4]uint64{{0, 10, 0, 0}}},
		{name: "var", segs: [][4]uint64{{0, 2, 0, 10}, {2, 3, 0, 12}}}, // two segments, contiguous
	})
	if pv.UUID != uuidA || pv.VG.Name != "guestvg" || pv.VG.ExtentSize != 2048 {
		t.Fatalf("pv %+v vg %+v", pv, pv.VG)
	}
	vols, err := Map([]*PV{pv})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]int64{"guestvg/root": {mib, 10 * mib}, "guestvg/var": {11 * mib, 5 * mib}}
	if len(vols) != 2 {
		t.Fatalf("%d volumes", len(vols))
	}
	for _, v := range vols {
		if v.Err != nil || v.PV != pv || [2]int64{v.Offset, v.Size} != want[v.Name()] {
			t.Errorf("%s: offset %d size %d err %v, want %v", v.Name(), v.Offset, v.Size, v.Err, want[v.Name()])
		}
	}
}

func TestMetadataWrappingAroundTheAreaIsRead(t *testing.T) {
	text := vgText("guestvg", 2048, [][3]any{{uuidA, 2048, 15}}, []lvSpec{{name: "root", segs: [][4]uint64{{0, 15, 0, 0}}}})
	const mdaSize = 8192 // text starts 300 bytes before the end: the rest follows the header
	pv, err := ReadPV(device("p2", synthPV(uuidA, 16*mib, mdaSize, mdaSize-300, text)))
	if err != nil {
		t.Fatal(err)
	}
	if string(pv.Text) != text {
		t.Fatalf("text differs:\n%s", pv.Text)
	}
	if d := pv.VG.LV("root"); d == nil || d.Segments[0].ExtentCount != 15 {
		t.Fatalf("root %+v", d)
	}
}

func TestNonLinearLVsAreRefusedNamingTheirLayout(t *testing.T) {
	pv := basicPV(t, []lvSpec{
		{name: "var", segs: [][4]uint64{{0, 2, 0, 0}, {2, 3, 0, 5}, {5, 1, 0, 12}}},
		{name: "pool", typ: "thin-pool", segs: [][4]uint64{{0, 1, 0, 14}}},
	})
	vols, err := Map([]*PV{pv})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, v := range vols {
		if v.Err == nil {
			t.Fatalf("%s mapped at %d", v.Name(), v.Offset)
		}
		got[v.Name()] = v.Err.Error()
	}
	for name, want := range map[string]string{"guestvg/var": "LV guestvg/var has 3 segments on 1 PV (pv0), not contiguous: not supported without device-mapper", "guestvg/pool": `"thin-pool" segment`} {
		if !strings.Contains(got[name], want) {
			t.Errorf("%s: %q does not say %q", name, got[name], want)
		}
	}
}

func TestStripedLVIsRefused(t *testing.T) {
	text := vgText("guestvg", 2048, [][3]any{{uuidA, 2048, 15}}, []lvSpec{{name: "s", segs: [][4]uint64{{0, 4, 0, 0}}}})
	text = strings.Replace(text, "stripe_count = 1\t# linear\n\nstripes = [\n\"pv0\", 0\n]", "stripe_count = 2\nstripe_size = 128\nstripes = [\n\"pv0\", 0,\n\"pv0\", 8\n]", 1)
	pv, err := ReadPV(device("p2", synthPV(uuidA, 16*mib, mib-4096, 512, text)))
	if err != nil {
		t.Fatal(err)
	}
	vols, _ := Map([]*PV{pv})
	if len(vols) != 1 || vols[0].Err == nil || !strings.Contains(vols[0].Err.Error(), "striped over 2 areas") {
		t.Fatalf("%+v", vols[0])
	}
}

func TestMissingPVIsNamed(t *testing.T) {
	const uuidB = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	text := vgText("guestvg", 2048, [][3]any{{uuidA, 2048, 15}, {uuidB, 2048, 15}}, []lvSpec{{name: "home", segs: [][4]uint64{{0, 4, 1, 0}}}})
	pv, err := ReadPV(device("p2", synthPV(uuidA, 16*mib, mib-4096, 512, text)))
	if err != nil {
		t.Fatal(err)
	}
	vols, err := Map([]*PV{pv})
	if err != nil || len(vols) != 1 || vols[0].Err == nil || !strings.Contains(vols[0].Err.Error(), "on no disk of the image") {
		t.Fatalf("%v %+v", err, vols)
	}
}

func TestNoLabelIsErrNotPV(t *testing.T) {
	if _, err := ReadPV(device("p1", make([]byte, 8192))); !errors.Is(err, ErrNotPV) {
		t.Fatalf("err %v", err)
	}
}

// TestHostileMetadataIsRefused: each corruption fails with an error naming what is wrong,
// and none takes more than a little memory.
func TestHostileMetadataIsRefused(t *testing.T) {
	good := vgText("guestvg", 2048, [][3]any{{uuidA, 2048, 15}}, []lvSpec{{name: "root", segs: [][4]uint64{{0, 10, 0, 0}}}})
	lvs := func(n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "l%d{}\n", i)
		}
		return b.String()
	}
	overlap := vgText("guestvg", 2048, [][3]any{{uuidA, 2048, 15}}, []lvSpec{
		{name: "root", segs: [][4]uint64{{0, 10, 0, 0}}},
		{name: "var", segs: [][4]uint64{{0, 2, 0, 9}}},
	})
	cases := []struct {
		name, text string
		dev        func([]byte)
		size       int64
		want       string
	}{
		{name: "huge extent count", text: strings.Replace(good, "extent_count = 10", "extent_count = 1099511627776000", 1), want: "out of range"},
		{name: "segment past the PV end", text: strings.Replace(good, "\"pv0\", 0", "\"pv0\", 10", 1), want: "runs past the end of pv0"},
		{name: "pe_count past dev_size", text: strings.Replace(good, "pe_count = 15", "pe_count = 15\ndev_size = 4096", 1), want: "past its dev_size"},
		{name: "extents past the device", text: strings.Replace(good, "pe_count = 15", "pe_count = 150", 1), want: "extents end at byte"},
		{name: "extents before the data area", text: strings.Replace(good, "pe_start = 2048", "pe_start = 8", 1), want: "outside the data area"},
		{name: "overlapping LVs", text: overlap, want: "LVs root and var both claim extent 9 of pv0"},
		{name: "pe overflow", text: strings.Replace(good, "pe_count = 15", "pe_count = 9223372036854775807", 1), want: "overflows"},
		{name: "integer overflow", text: strings.Replace(good, "pe_start = 2048", "pe_start = 92233720368547758070", 1), want: "not a decimal integer in range"},
		{name: "deep nesting", text: strings.Repeat("a {\n", 10000) + strings.Repeat("}\n", 10000), want: "nested deeper than"},
		{name: "100k LVs", text: strings.Replace(good, "logical_volumes {\n", "logical_volumes {\n"+lvs(100000), 1), want: "more than 100000 nodes"},
		{name: "5000 LVs", text: strings.Replace(good, "logical_volumes {\n", "logical_volumes {\n"+lvs(5000), 1), want: "more than 4096 logical volumes"},
		{name: "unknown PV", text: strings.Replace(good, "\"pv0\", 0", "\"pv7\", 0", 1), want: `"pv7", which is no PV`},
		{name: "unclosed string", text: good[:strings.Index(good, "description")] + "description = \"abc", want: "string is not closed"},
		{name: "two VGs", text: good + "other {\n}\n", want: "more than one volume group"},
		{name: "bad VG name", text: strings.Replace(good, "guestvg {", "../etc {", 1), want: "not a valid LVM name"},
		{name: "bad text checksum", text: good, dev: func(b []byte) { b[4096+600] ^= 1 }, want: "metadata text checksum mismatch"},
		{name: "bad header checksum", text: good, dev: func(b []byte) { b[4096+100] ^= 1 }, want: "header checksum mismatch"},
		{name: "bad label checksum", text: good, dev: func(b []byte) { b[512+40] ^= 1 }, want: "label checksum mismatch"},
		{name: "text outside area", text: good, dev: func(b []byte) {
			h := b[4096 : 4096+512]
			binary.LittleEndian.PutUint64(h[48:], 1<<40)
			binary.LittleEndian.PutUint32(h, calcCRC(initialCRC, h[4:]))
		}, want: "metadata text of 1099511627776 bytes"},
		{name: "area past the device", text: good, dev: func(b []byte) {
			lab := b[512:1024]
			binary.LittleEndian.PutUint64(lab[32+72:], 1<<50)
			binary.LittleEndian.PutUint32(lab[16:], calcCRC(initialCRC, lab[20:]))
		}, want: "past its end"},
	}
	// The cases start from a PV that maps.
	if pv, err := ReadPV(device("p2", synthPV(uuidA, 16*mib, mib-4096, 512, good))); err != nil {
		t.Fatal(err)
	} else if vols, err := Map([]*PV{pv}); err != nil || len(vols) != 1 || vols[0].Err != nil {
		t.Fatalf("the good PV does not map: %v %+v", err, vols)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := synthPV(uuidA, 16*mib, mib-4096, 512, tc.text)
			if tc.dev != nil {
				tc.dev(b)
			}
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			pv, err := ReadPV(device("p2", b))
			if err == nil {
				_, err = Map([]*PV{pv})
			}
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 64*mib {
				t.Errorf("allocated %d MiB", n>>20)
			}
			t.Log(err)
		})
	}
}

// The FuzzReadPV seeds are PVs whose LV maps, so the fuzzer starts from the whole path.
func TestFuzzSeedsMap(t *testing.T) {
	text := vgText("guestvg", 16, [][3]any{{uuidA, 48, 4}}, []lvSpec{{name: "root", segs: [][4]uint64{{0, 2, 0, 1}}}})
	for _, b := range [][]byte{synthPV(uuidA, 64<<10, 16<<10, 512, text), synthPV(uuidA, 64<<10, 8<<10, 8<<10-100, text)} {
		pv, err := ReadPV(device("p", b))
		if err != nil {
			t.Fatal(err)
		}
		vols, err := Map([]*PV{pv})
		if err != nil || len(vols) != 1 || vols[0].Err != nil || vols[0].Offset != 32<<10 || vols[0].Size != 16<<10 {
			t.Fatalf("%v %+v", err, vols)
		}
	}
}

// A VG over two PVs (two partitions, or two disks of one capture): each LV is mapped on the
// PV that holds it, an LV spread over both is refused naming them, and the newest metadata
// (highest seqno) of the two copies is the one used.
func TestVGOverTwoPVs(t *testing.T) {
	const uuidB = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	pvs := [][3]any{{uuidA, 2048, 15}, {uuidB, 2048, 15}}
	old := vgText("guestvg", 2048, pvs, []lvSpec{{name: "root", segs: [][4]uint64{{0, 10, 0, 0}}}})
	lvs := []lvSpec{
		{name: "root", segs: [][4]uint64{{0, 10, 0, 0}}},
		{name: "home", segs: [][4]uint64{{0, 4, 1, 3}}},
		{name: "var", segs: [][4]uint64{{0, 2, 0, 10}, {2, 2, 1, 0}}},
	}
	newer := strings.Replace(vgText("guestvg", 2048, pvs, lvs), "seqno = 3", "seqno = 4", 1)
	a, err := ReadPV(device("disk1 p2", synthPV(uuidA, 16*mib, mib-4096, 512, old)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ReadPV(device("disk2 p1", synthPV(uuidB, 16*mib, mib-4096, 512, newer)))
	if err != nil {
		t.Fatal(err)
	}
	vols, err := Map([]*PV{a, b})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*Volume{}
	for _, v := range vols {
		got[v.Name()] = v
	}
	if len(vols) != 3 {
		t.Fatalf("%d volumes: the older metadata was used?", len(vols))
	}
	if v := got["guestvg/root"]; v.Err != nil || v.PV != a || v.Offset != mib || v.Size != 10*mib {
		t.Errorf("root %+v", v)
	}
	if v := got["guestvg/home"]; v.Err != nil || v.PV != b || v.Offset != 4*mib || v.Size != 4*mib {
		t.Errorf("home %+v", v)
	}
	if v := got["guestvg/var"]; v.Err == nil || !strings.Contains(v.Err.Error(), "has 2 segments on 2 PVs (pv0, pv1)") {
		t.Errorf("var %+v", v)
	}
}

// Two different VGs of one name on the image: which LV /dev/mapper/<vg>-<lv> means is
// ambiguous, so the mapping is refused, naming the VG.
func TestTwoVGsOfOneNameRefused(t *testing.T) {
	const uuidB = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	ta := vgText("guestvg", 2048, [][3]any{{uuidA, 2048, 15}}, nil)
	tb := strings.Replace(vgText("guestvg", 2048, [][3]any{{uuidB, 2048, 15}}, nil), "7LKVAL-LF4l", "8LKVAL-LF4l", 1)
	a, err := ReadPV(device("p1", synthPV(uuidA, 16*mib, mib-4096, 512, ta)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ReadPV(device("p2", synthPV(uuidB, 16*mib, mib-4096, 512, tb)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Map([]*PV{a, b}); err == nil || !strings.Contains(err.Error(), "two volume groups named guestvg") {
		t.Fatalf("err %v", err)
	}
}
