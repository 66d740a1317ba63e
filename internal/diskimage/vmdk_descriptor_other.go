//go:build !unix

package diskimage

import (
	"fmt"
	"os"
)

// Descriptor VMDKs are read where extent files can be looked up in a directory without
// following links (openat with O_NOFOLLOW): Linux and macOS.
type extentDir struct{}

func openExtentDir(*os.File) (*extentDir, error) {
	return nil, fmt.Errorf("%w: VMDK descriptors with extent files are read on Linux and macOS only", ErrUnsupported)
}

func (d *extentDir) close()                        {}
func (d *extentDir) check(string) error            { return nil }
func (d *extentDir) open(string) (*os.File, error) { return nil, ErrUnsupported }
