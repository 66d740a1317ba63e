package diskimage

import (
	"os"

	"golang.org/x/sys/unix"
)

const haveWriteback = true

// startWriteback starts writing back the dirty pages of [off, off+n) of f without waiting
// for them. Errors are ignored: this is only a hint, the caller's fsync reports I/O errors.
func startWriteback(f *os.File, off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}
