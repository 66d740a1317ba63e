//go:build !linux

package provenance

import (
	"errors"
	"os"
)

// Reflinks, copy_file_range and stamps are Linux's: elsewhere a base is copied through a
// buffer and always checked block by block.
func tryReflink(dst, src *os.File) bool { return false }

func copyFileRange(src *os.File, in *int64, dst *os.File, out *int64, n int) (int, error) {
	return 0, errors.ErrUnsupported
}

func statStamp(path string) (Stamp, error) {
	return Stamp{}, errors.New("file stamps are read on Linux only")
}

// punchHole: no hole punching here; an Update writes zeros instead.
func punchHole(f *os.File, off, n int64) error { return errors.ErrUnsupported }
