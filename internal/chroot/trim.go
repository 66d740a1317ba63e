//go:build linux

package chroot

import (
	"errors"
	"fmt"
	"math"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fitrim is FITRIM, _IOWR('X', 121, struct fstrim_range).
const fitrim = 0xc0185879

type fstrimRange struct {
	Start, Len, MinLen uint64
}

// Trim discards the free blocks of the filesystem mounted on dir. On a loop device this
// punches holes in the backing file, so the working copy stays sparse. It returns the
// bytes trimmed; a filesystem without discard support trims nothing and is not an error.
func Trim(dir string) (uint64, error) {
	f, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	// Blocks freed by deletions return to the free pool only when the journal commits: sync
	// first, or the space a provisioner just freed would not be trimmed.
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return 0, fmt.Errorf("sync %s: %w", dir, err)
	}
	r := fstrimRange{Len: math.MaxUint64}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), fitrim, uintptr(unsafe.Pointer(&r)))
	if errno != 0 {
		if errors.Is(errno, unix.EOPNOTSUPP) || errors.Is(errno, unix.ENOTTY) {
			return 0, nil
		}
		return 0, fmt.Errorf("trim %s: %w", dir, errno)
	}
	return r.Len, nil
}
