package diskimage

import (
	"encoding/binary"
	"fmt"
)

// VMDKGDAtEnd reports whether head, the first bytes of a file (its first sector at least),
// is a VMDK sparse extent header whose grain directory offset is GD_AT_END: the stream
// layout VMware's tools write (ovftool, vSphere exports), where only the footer says where
// the grain directory is. The file is a valid VMDK (qemu and our reader take the offset from
// the footer), but OpenStack's format inspector (the code that guards Glance uploads, Nova
// and Cinder) reads the header only, finds "Unsupported VMDK footer" and takes the file for
// raw: such a file must be re-encoded (our writer puts the real offset in the header)
// before it is handed to OpenStack or packed into an OVA as it is.
func VMDKGDAtEnd(head []byte) bool {
	if len(head) < sector || string(head[:4]) != vmdkMagic {
		return false
	}
	return binary.LittleEndian.Uint64(head[56:]) == vmdkGDAtEnd
}

// AsIsRefusal says why the stored bytes of an image in format, beginning with head (at
// least the first sector when the file has one), must not be sent on as they are but
// re-encoded by the format's writer: "" when they may: a VMDK whose header says GD_AT_END
// (VMDKGDAtEnd), or a descriptor VMDK (the disk is in its extent files).
func AsIsRefusal(format string, head []byte) string {
	if why := descriptorAsIsRefusal(head); format == "vmdk" && why != "" {
		return why
	}
	if format == "vmdk" && VMDKGDAtEnd(head) {
		return fmt.Sprintf("the VMDK header's grain directory offset is GD_AT_END (%#x), which OpenStack's format inspector refuses", vmdkGDAtEnd)
	}
	return ""
}
