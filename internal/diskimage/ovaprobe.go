package diskimage

import (
	"archive/tar"
	"errors"
	"io"
	"path"
	"strings"
)

// ErrOVA is returned by Open for an OVA appliance: a tar archive whose first member is an
// OVF descriptor. It is not a disk image and is never read as raw; the disks inside it are
// read through internal/ova (ova.Open, Archive.OpenDisk).
var ErrOVA = errors.New("is an OVA archive (an OVF appliance: a tar of a descriptor and disks), not a disk image; read the disk inside it")

// ovaHeadMax bounds what IsOVA reads to find the first member (PAX or GNU long-name records
// may come before it).
const ovaHeadMax = 1 << 20

// IsOVA tells whether r, of size bytes, is an OVA: a ustar/GNU tar archive whose first
// regular member is named *.ovf.
func IsOVA(r io.ReaderAt, size int64) bool {
	var head [512]byte
	if n, _ := r.ReadAt(head[:], 0); n < len(head) {
		return false
	}
	return isOVAHead(r, size, head[:])
}

func isOVAHead(r io.ReaderAt, size int64, head []byte) bool {
	if len(head) < 512 || string(head[257:262]) != "ustar" {
		return false
	}
	tr := tar.NewReader(io.NewSectionReader(r, 0, min(size, ovaHeadMax)))
	hdr, err := tr.Next() // checks the header checksum
	if err != nil {
		return false
	}
	return (hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeRegA) &&
		strings.HasSuffix(strings.ToLower(path.Base(hdr.Name)), ".ovf")
}
