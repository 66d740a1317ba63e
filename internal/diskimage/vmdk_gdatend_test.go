package diskimage

import (
	"encoding/binary"
	"strings"
	"testing"
)

// TestAsIsRefusal: a VMDK sparse header whose grain directory offset is GD_AT_END and a
// VMDK descriptor (text, or embedded in a sparse header of capacity 0: the disk is in
// other files) are refused as they are; a real offset, another format's bytes and a short
// head pass.
func TestAsIsRefusal(t *testing.T) {
	head := vmdkHeaderBytes(3, vmdkFlagCompress|vmdkFlagMarkers, 2048, 21, 0, 128, 1)
	if len(head) < sector {
		head = append(head, make([]byte, sector-len(head))...)
	}
	if AsIsRefusal("vmdk", head) != "" || VMDKGDAtEnd(head) {
		t.Error("a header with a real grain directory offset is refused")
	}
	atEnd := append([]byte(nil), head...)
	binary.LittleEndian.PutUint64(atEnd[56:], vmdkGDAtEnd)
	if why := AsIsRefusal("vmdk", atEnd); !strings.Contains(why, "GD_AT_END") {
		t.Errorf("GD_AT_END header: %q", why)
	}
	if why := AsIsRefusal("vmdk", []byte("# Disk DescriptorFile\nversion=1\n"+strings.Repeat(" ", 512))); !strings.Contains(why, "descriptor") {
		t.Errorf("descriptor file: %q", why)
	}
	embedded := vmdkHeaderBytes(1, 3, 0, 128, 1, 128, 0) // capacity 0, a descriptor at sector 1
	embedded = append(embedded, make([]byte, max(0, sector-len(embedded)))...)
	if why := AsIsRefusal("vmdk", embedded); !strings.Contains(why, "descriptor") {
		t.Errorf("embedded descriptor of capacity 0: %q", why)
	}
	for name, c := range map[string]struct {
		format string
		head   []byte
	}{
		"qcow2 target": {"qcow2", atEnd},
		"short":        {"vmdk", atEnd[:100]},
		"empty":        {"vmdk", nil},
	} {
		if why := AsIsRefusal(c.format, c.head); why != "" {
			t.Errorf("%s: refused: %s", name, why)
		}
	}
}
