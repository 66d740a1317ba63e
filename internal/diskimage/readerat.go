package diskimage

import (
	"fmt"
	"io"
	"strings"
)

// OpenReaderAt opens a disk image that is not a local file, read through ra (for example
// HTTP range requests on a remote image), of size bytes. Only formats whose reader needs
// nothing but ReadAt are accepted: qcow2. Close closes c when it is not nil.
func OpenReaderAt(ra io.ReaderAt, size int64, format string, c io.Closer) (Image, error) {
	if c == nil {
		c = io.NopCloser(nil)
	}
	switch strings.ToLower(format) {
	case "qcow2":
		return openQcow2At(ra, size, c)
	}
	return nil, fmt.Errorf("%w %q: OpenReaderAt reads qcow2 only", ErrUnknownFormat, format)
}

// ReaderAtFormats are the formats OpenReaderAt accepts.
func ReaderAtFormats() []string { return []string{"qcow2"} }
