package diskimage

import (
	"fmt"
	"io"
	"strings"
)

// OpenReaderAt opens a disk image that is not a local file, read through ra (for example
// HTTP range requests on a remote image), of size bytes, as one of ReaderAtFormats. A raw
// image (or fixed VHD) read this way has no hole map: its extents are all Data. Close
// closes c when it is not nil.
func OpenReaderAt(ra io.ReaderAt, size int64, format string, c io.Closer) (Image, error) {
	if c == nil {
		c = io.NopCloser(nil)
	}
	switch strings.ToLower(format) {
	case "qcow2":
		return openQcow2At(ra, size, c)
	case "vmdk":
		return openVMDKAt(ra, size, c)
	case "vhd", "vpc":
		return openVHDAt(ra, size, c)
	case "raw":
		return &rawImage{ra: ra, c: c, size: size, name: "raw"}, nil
	}
	return nil, fmt.Errorf("%w %q: OpenReaderAt reads %s", ErrUnknownFormat, format, strings.Join(ReaderAtFormats(), ", "))
}

// ReaderAtFormats are the formats OpenReaderAt accepts.
func ReaderAtFormats() []string { return []string{"qcow2", "raw", "vhd", "vmdk"} }
