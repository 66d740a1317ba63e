// Package guestfs gives safe access to an untrusted guest tree.
//
// A guest filesystem mounted on the host (for example under /mnt/chromogenic/xyz) is hostile
// input: a guest symlink, a chain of "..", a magic /proc link, a hard link, a FIFO or a device
// node must never make us read, write, truncate, create or delete a host file, nor block.
//
// Every path given to this package is a guest path ("/etc/fstab" and "etc/fstab" mean the same
// file). It is resolved inside the root with openat2(2) and RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS:
// chroot semantics, so absolute symlinks and ".." stay inside the root and /proc magic links are
// refused. The final component is then acted on through file descriptors: O_PATH descriptors
// plus fstat, or *at(2) calls on the in-root parent directory descriptor and the final name.
// There is no fallback: without openat2 (ENOSYS, Linux < 5.6 or a seccomp filter) every call
// fails with ErrUnsupported.
//
// Policies:
//
//   - Special files. Open, OpenFile, ReadFile, WriteFile and Truncate only open regular files
//     (and directories, read-only). The file is first opened O_PATH and checked with fstat; a
//     FIFO, socket or device node is refused with ErrSpecialFile without ever being opened, so
//     nothing blocks and no driver open routine runs. The checked O_PATH descriptor is then
//     re-opened through /proc/self/fd/N, which yields the same inode (no check/use race).
//   - Hard links. A non-directory with st_nlink > 1 may be a second name of a host file (a
//     hard link IS the same inode). WriteFile, Truncate, OpenFile for writing or with O_TRUNC,
//     Chmod, Chown, Lchown and Chtimes refuse it with ErrHardlink unless
//     Options.AllowHardlinkWrites is set. Reading, renaming and removing such a name are allowed
//     (removing a name never changes the other names' data).
//   - Mount points. RemoveAll never crosses into another mount or filesystem: a directory whose
//     st_dev differs from the removal root's, or whose lookup crosses a mount
//     (RESOLVE_NO_XDEV), is refused with ErrMountPoint and left intact, contents included.
//     Other lookups cross mounts inside the root unless Options.NoXDev is set.
//   - Symlinks. Open, OpenFile (without O_NOFOLLOW), ReadFile, WriteFile, Stat, Chmod, Chown and
//     Chtimes follow a final symlink, in-root. Lstat, Readlink, Lchown, Remove, RemoveAll,
//     Rename, Truncate, Walk and OpenPath(p, false) do not. Truncate on a symlink fails with
//     syscall.ELOOP (O_NOFOLLOW semantics).
//   - Sizes. ReadFile reads at most DefaultReadLimit (16 MiB) and ReadFileLimit at most the
//     bound its caller gives (fstab 1 MiB, os-release 64 KiB...), through an io.LimitReader:
//     a larger file is refused with ErrTooLarge naming the guest path and its size, and
//     nothing is ever allocated at the size a file claims (a sparse 16 TiB file costs a few
//     blocks on disk and must cost nothing in memory).
//
// Files returned by Open, OpenFile and OpenPath are named with the cleaned, absolute guest path
// ("/etc/fstab"). Never pass that name (or the name of anything under it) to package os, which
// would resolve it on the host. In particular, do not call ReadDir on a returned directory:
// os's lazy DirEntry.Info lstat()s parent-name + "/" + entry by host path; use Root.ReadDir,
// Root.Walk, or (*os.File).Readdir, which is descriptor-relative.
package guestfs
