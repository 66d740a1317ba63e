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
	f, err := Lookup(format)
	if err != nil || f.OpenReaderAt == nil {
		return nil, fmt.Errorf("%w %q: OpenReaderAt reads %s", ErrUnknownFormat, format, strings.Join(ReaderAtFormats(), ", "))
	}
	return f.OpenReaderAt(ra, size, c)
}
