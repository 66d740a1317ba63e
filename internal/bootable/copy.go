package bootable

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
)

// copyRange copies n bytes of src at srcOff to dst at dstOff, visiting only the data
// extents of src (SEEK_DATA/SEEK_HOLE) and skipping blocks of zeros, so holes stay holes.
// dst must read as zeros where nothing is written (a fresh sparse file).
func copyRange(dst *os.File, dstOff int64, src *os.File, srcOff, n int64) error {
	const chunk = 1 << 20
	buf := make([]byte, chunk)
	end := srcOff + n
	fd := int(src.Fd())
	for off := srcOff; off < end; {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			return nil // only a hole remains
		}
		if err != nil {
			return fmt.Errorf("seek data in %s: %w", src.Name(), err)
		}
		if data >= end {
			return nil
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			return fmt.Errorf("seek hole in %s: %w", src.Name(), err)
		}
		if hole > end {
			hole = end
		}
		for p := data; p < hole; {
			k := int64(chunk)
			if hole-p < k {
				k = hole - p
			}
			b := buf[:k]
			if _, err := src.ReadAt(b, p); err != nil && err != io.EOF {
				return fmt.Errorf("read %s: %w", src.Name(), err)
			}
			if !diskimage.IsZero(b) {
				if _, err := dst.WriteAt(b, dstOff+(p-srcOff)); err != nil {
					return fmt.Errorf("write %s: %w", dst.Name(), err)
				}
			}
			p += k
		}
		off = hole
	}
	return nil
}

// ParseSize parses a size such as "2G", "512M", "1GiB", "1.5g" or a byte count; suffixes
// are binary (K = 1024).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToUpper(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "IB"), "B")
	mult := int64(1)
	if t != "" {
		switch t[len(t)-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:len(t)-1]
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || v < 0 || v*float64(mult) > 1<<60 {
		return 0, fmt.Errorf("size %q: want a number of bytes or a number with K, M, G or T", s)
	}
	return int64(v * float64(mult)), nil
}
