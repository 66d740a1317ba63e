package convert

import (
	"fmt"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
)

// openOtherDisks opens the other disks of a guest on several disks (the artifact's
// image_paths after the boot disk), in the format the artifact declares for its images.
func openOtherDisks(paths []string, format string) ([]diskimage.Image, error) {
	var out []diskimage.Image
	for i, p := range paths {
		img, err := diskimage.OpenFormat(p, format)
		if err != nil {
			closeAll(out)
			return nil, fmt.Errorf("open input disk %d, %s: %w", i+2, p, err)
		}
		out = append(out, img)
	}
	return out, nil
}

func closeAll(imgs []diskimage.Image) {
	for _, img := range imgs {
		img.Close()
	}
}

// isInput reports whether the absolute path abs is one of the input images.
func isInput(abs string, inputs []string) bool {
	for _, in := range inputs {
		if in == abs {
			return true
		}
	}
	return false
}
