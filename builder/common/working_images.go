package common

import (
	"fmt"
	"path/filepath"
	"strings"
)

// StateWorkingImages is the state key of a guest on several disks: []string, the working
// copy of every disk, the boot disk first (working_image is the same first one). The
// open-image step attaches them together (chroot.OpenImages); absent for one disk.
const StateWorkingImages = "working_images"

// DiskPaths names the working copies of a guest on n disks after the boot disk's, first:
// first itself, then first with -disk<N> before its extension (out/web.raw,
// out/web-disk2.raw, out/web-disk3.raw...), as every builder of several disks names them.
func DiskPaths(first string, n int) []string {
	out := []string{first}
	ext := filepath.Ext(first)
	for i := 2; i <= n; i++ {
		out = append(out, fmt.Sprintf("%s-disk%d%s", strings.TrimSuffix(first, ext), i, ext))
	}
	return out
}
