package provenance

import (
	"os"

	"golang.org/x/sys/unix"
)

// tryReflink makes dst share src's extents (FICLONE) where the filesystem can.
func tryReflink(dst, src *os.File) bool {
	return unix.IoctlFileClone(int(dst.Fd()), int(src.Fd())) == nil
}

func copyFileRange(src *os.File, in *int64, dst *os.File, out *int64, n int) (int, error) {
	return unix.CopyFileRange(int(src.Fd()), in, int(dst.Fd()), out, n, 0)
}

func statStamp(path string) (Stamp, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return Stamp{}, err
	}
	return Stamp{Device: uint64(st.Dev), Inode: st.Ino, Size: st.Size,
		Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano()}, nil
}
