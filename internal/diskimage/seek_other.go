//go:build !linux

package diskimage

// lseek whence values for sparse files (FreeBSD, macOS, illumos).
const (
	seekData = 4
	seekHole = 3
)
