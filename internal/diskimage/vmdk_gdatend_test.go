package diskimage

import (
	"encoding/binary"
	"strings"
	"testing"
)

// TestAsIsRefusal: only a VMDK sparse header whose grain directory offset is GD_AT_END is
// refused as it is; a real offset, another format's bytes, a short head and a VMDK
// descriptor file pass.
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
	for name, c := range map[string]struct {
		format string
		head   []byte
	}{
		"qcow2 target":    {"qcow2", atEnd},
		"short":           {"vmdk", atEnd[:100]},
		"descriptor file": {"vmdk", []byte("# Disk DescriptorFile\nversion=1\n" + strings.Repeat(" ", 512))},
		"empty":           {"vmdk", nil},
	} {
		if why := AsIsRefusal(c.format, c.head); why != "" {
			t.Errorf("%s: refused: %s", name, why)
		}
	}
}
