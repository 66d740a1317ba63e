package bootable

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
)

// copyRange copies n bytes of the raw file src at srcOff into dst at dstOff, through
// diskimage's sparse copy: only src's data extents are read and its zero blocks are not
// written, so dst must read as zero there (a fresh sparse file).
func copyRange(ctx context.Context, dst *os.File, dstOff int64, src string, srcOff, n int64) error {
	img, err := diskimage.OpenFormat(src, "raw")
	if err != nil {
		return err
	}
	defer img.Close()
	sec, err := diskimage.Section(img, srcOff, n)
	if err != nil {
		return err
	}
	return diskimage.WriteRawAt(ctx, dst, dstOff, sec, nil)
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
