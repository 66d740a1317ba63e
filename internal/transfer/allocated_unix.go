//go:build unix

package transfer

import (
	"os"
	"syscall"
)

// diskBytes returns the bytes fi's file holds on disk (its holes not counted).
func diskBytes(fi os.FileInfo) (int64, bool) {
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(sys.Blocks) * 512, true
	}
	return 0, false
}
