//go:build !windows

package provenance

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

const noFollow = syscall.O_NOFOLLOW | syscall.O_NONBLOCK

// dataRanges lists the file's data ranges (SEEK_DATA/SEEK_HOLE), or the whole file where the
// filesystem cannot say.
func dataRanges(f *os.File, size int64) [][2]int64 {
	var out [][2]int64
	fd := int(f.Fd())
	for off := int64(0); off < size; {
		d, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if err != nil {
			if errors.Is(err, unix.ENXIO) {
				break
			}
			return [][2]int64{{off, size}}
		}
		h, err := unix.Seek(fd, d, unix.SEEK_HOLE)
		if err != nil {
			h = size
		}
		out = append(out, [2]int64{d, h})
		off = h
	}
	return out
}
