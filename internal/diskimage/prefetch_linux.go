package diskimage

import (
	"os"

	"golang.org/x/sys/unix"
)

// fadvise passes advice about [off, off+n) of f to the kernel; errors are ignored (a hint).
func fadvise(f *os.File, off, n int64, advice int) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) { _ = unix.Fadvise(int(fd), off, n, advice) })
}

func adviseSequential(f *os.File)             { fadvise(f, 0, 0, unix.FADV_SEQUENTIAL) }
func adviseWillNeed(f *os.File, off, n int64) { fadvise(f, off, n, unix.FADV_WILLNEED) }
