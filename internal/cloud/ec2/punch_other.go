//go:build !linux

package ec2

import (
	"errors"
	"os"
)

// punchHole: no hole punching here; zeroRange writes zeros instead.
func punchHole(f *os.File, off, n int64) error { return errors.ErrUnsupported }
