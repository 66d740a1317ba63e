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

// punchHole deallocates [off, off+n) of f, keeping its size: it reads as zeros.
func punchHole(f *os.File, off, n int64) error {
	return unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
}
