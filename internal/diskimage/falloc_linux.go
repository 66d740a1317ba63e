package diskimage

import (
	"os"
	"syscall"
)

const (
	fallocKeepSize  = 0x01
	fallocZeroRange = 0x10
)

// fallocZero asks the kernel to zero a range without writing it (block devices and most
// file systems support FALLOC_FL_ZERO_RANGE).
func fallocZero(f *os.File, off, n int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		ferr = syscall.Fallocate(int(fd), fallocZeroRange|fallocKeepSize, off, n)
	}); err != nil {
		return err
	}
	return ferr
}
