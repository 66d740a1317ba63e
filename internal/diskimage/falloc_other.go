//go:build !linux

package diskimage

import (
	"errors"
	"os"
)

func fallocZero(f *os.File, off, n int64) error { return errors.ErrUnsupported }
