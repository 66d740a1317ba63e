package chroot

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
)

// Copies of one XFS disk (one filesystem UUID: a working copy while its source is mounted on
// the host, or two captures of one image). The source is mounted as mount(8) mounts XFS, which
// records its UUID; a copy mounted the same way then fails ("Filesystem has duplicate UUID",
// EINVAL): the first subtest shows it. OpenImage mounts XFS with nouuid, so two more copies
// open at once beside the source, each its own tree, a clean XFS passes fsck = check and
// repair, and Close leaves nothing.
func TestOpenImageXFSClones(t *testing.T) {
	dir := t.TempDir()
	var copies []string
	for _, name := range []string{"source", "b", "c"} {
		copies = append(copies, testimages.Make(t, "xfs-root", mkdir(t, dir, name)))
	}
	src, err := Attach(copies[0], true)
	if err != nil {
		t.Fatal(err)
	}
	srcDir := mkdir(t, dir, "source-mnt")
	if err := unix.Mount(src.Partition(1).Device, srcDir, "xfs", unix.MS_RDONLY, ""); err != nil {
		src.Detach()
		t.Fatalf("mount the source: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(srcDir, 0); err != nil {
			t.Errorf("unmount the source: %v", err)
		}
		if err := src.Detach(); err != nil {
			t.Error(err)
		}
	})

	t.Run("without nouuid a copy does not mount", func(t *testing.T) {
		d, err := Attach(copies[1], true)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Detach()
		p := d.Partition(1)
		if p.FSType != "xfs" || p.UUID != src.Partition(1).UUID {
			t.Fatalf("copy %v UUID %s, source UUID %s: the test proves nothing", p, p.UUID, src.Partition(1).UUID)
		}
		mnt := mkdir(t, dir, "plain")
		err = unix.Mount(p.Device, mnt, "xfs", unix.MS_RDONLY, "")
		if err == nil {
			unix.Unmount(mnt, 0)
			t.Fatal("a second XFS of the same UUID mounted without nouuid: this kernel needs no nouuid")
		}
		if !errors.Is(err, unix.EINVAL) {
			t.Errorf("mount without nouuid: %v, want EINVAL (duplicate UUID)", err)
		}
	})

	var imgs []*Image
	for i, mode := range []FsckMode{FsckCheck, FsckRepair} {
		img, err := OpenImage(copies[i+1], ImageOptions{TempDir: dir, Fsck: mode})
		if err != nil {
			t.Fatalf("open copy %d (fsck %s) beside the source: %v", i+1, mode, err)
		}
		releaseOnFail(t, img)
		if img.Root.FSType != "xfs" {
			t.Fatalf("root %v, want xfs", img.Root)
		}
		imgs = append(imgs, img)
	}
	for i, img := range imgs {
		if osr, err := img.Guest.Guest().ReadFile("/etc/os-release"); err != nil || len(osr) == 0 {
			t.Errorf("copy %d: os-release %q %v", i+1, osr, err)
		}
	}
	if err := os.WriteFile(filepath.Join(imgs[0].MountPath, "copy-1-only"), []byte("b"), 0o644); err != nil {
		t.Errorf("write in copy 1: %v", err)
	}
	if _, err := imgs[1].Guest.Guest().Stat("/copy-1-only"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file written in copy 1 shows in copy 2: %v", err)
	}
	if _, err := os.Stat(filepath.Join(srcDir, "copy-1-only")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file written in copy 1 shows in the source: %v", err)
	}
	for i, img := range imgs {
		if err := img.Close(); err != nil {
			t.Fatal(err)
		}
		assertReleased(t, copies[i+1], img.MountPath)
	}
	if m := MountedUnder(srcDir); len(m) != 1 {
		t.Errorf("the source's mount after the copies closed: %v", m)
	}
}

func mkdir(t *testing.T, parent, name string) string {
	t.Helper()
	p := filepath.Join(parent, name)
	if err := os.MkdirAll(p, 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

// An ext4 root whose inode bitmap marks a file's inode free (what e2fsck -n reports as
// "Inode bitmap differences"): skip mounts it as before; check fails naming the partition and
// quoting e2fsck, leaving nothing attached; repair on a read-only open only checks and changes
// nothing; repair on the working copy fixes it (e2fsck -p) with the file still there, and a
// check passes afterwards.
func TestOpenImageFsckExt4(t *testing.T) {
	dir := t.TempDir()
	image := testimages.Make(t, "mbr-boot", dir)
	damage(t, image, 2, "/etc/hostname")
	opts := ImageOptions{TempDir: dir, Guest: GuestOptions{FstabMounts: DefaultFstabMounts}}
	open := func(mode FsckMode, readOnly bool) (*Image, error) {
		o := opts
		o.Fsck, o.ReadOnly = mode, readOnly
		img, err := OpenImage(image, o)
		if err == nil {
			releaseOnFail(t, img)
		}
		return img, err
	}

	img, err := open(FsckSkip, true)
	if err != nil {
		t.Fatalf("fsck skip: %v", err)
	}
	if err := img.Close(); err != nil {
		t.Fatal(err)
	}

	for _, ro := range []bool{false, true} {
		mode := FsckCheck
		if ro {
			mode = FsckRepair // read-only: check only
		}
		_, err := open(mode, ro)
		if err == nil {
			t.Fatalf("fsck %s (read-only %v) of a damaged root succeeded", mode, ro)
		}
		for _, want := range []string{"e2fsck -f -n found partition 2 (ext4", "Inode bitmap differences", "Filesystem still has errors"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("fsck %s (read-only %v): %v\nwant it to say %q", mode, ro, err, want)
			}
		}
		assertReleased(t, image, dir)
		if e := e2fsckN(t, image, 2); e == nil {
			t.Fatalf("after fsck %s (read-only %v) the root is no longer damaged: it was written", mode, ro)
		}
	}

	img, err = open(FsckRepair, false)
	if err != nil {
		t.Fatalf("fsck repair: %v", err)
	}
	if b, err := img.Guest.Guest().ReadFile("/etc/hostname"); err != nil || len(b) == 0 {
		t.Errorf("/etc/hostname after repair: %q %v", b, err)
	}
	if err := img.Close(); err != nil {
		t.Fatal(err)
	}
	assertReleased(t, image, dir)
	if err := e2fsckN(t, image, 2); err != nil {
		t.Errorf("after repair: %v", err)
	}
	img, err = open(FsckCheck, false)
	if err != nil {
		t.Fatalf("fsck check after repair: %v", err)
	}
	if err := img.Close(); err != nil {
		t.Fatal(err)
	}
	assertReleased(t, image, dir)
}

// damage marks the inode of path on partition n free in its inode bitmap (debugfs freei).
func damage(t *testing.T, image string, n int, path string) {
	t.Helper()
	d, err := Attach(image, false)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := d.Detach(); err != nil {
			t.Fatal(err)
		}
	}()
	if out, err := exec.Command("debugfs", "-w", "-R", "freei "+path, d.Partition(n).Device).CombinedOutput(); err != nil || bytes.Contains(out, []byte("not found")) {
		t.Fatalf("debugfs freei %s: %v\n%s", path, err, out)
	}
}

// e2fsckN runs e2fsck -f -n on partition n of image: nil when it is clean.
func e2fsckN(t *testing.T, image string, n int) error {
	t.Helper()
	d, err := Attach(image, true)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Detach()
	return Fsck(context.Background(), d.Partition(n), FsckCheck, true)
}

// Btrfs is checked read-only in both modes; a clean one passes. Filesystems without a checker
// (vfat) pass unchecked; a checker that overruns FsckTimeout is stopped with an error naming
// the partition.
func TestFsckBtrfsAndOthers(t *testing.T) {
	dir := t.TempDir()
	for _, fs := range []struct{ mkfs, fstype string }{{"mkfs.btrfs", "btrfs"}, {"mkfs.vfat", "vfat"}} {
		f := bareFS(t, filepath.Join(dir, fs.fstype+".raw"), 256<<20, fs.mkfs)
		d, err := Attach(f, false)
		if err != nil {
			t.Fatal(err)
		}
		p := d.Partition(0)
		if p.FSType != fs.fstype {
			t.Errorf("blkid %q, want %s", p.FSType, fs.fstype)
		}
		for _, mode := range []FsckMode{FsckCheck, FsckRepair} {
			if err := Fsck(context.Background(), p, mode, false); err != nil {
				t.Errorf("fsck %s of a clean %s: %v", mode, fs.fstype, err)
			}
		}
		if fs.fstype == "btrfs" {
			old := FsckTimeout
			FsckTimeout = 1 // nanosecond: no checker finishes
			err := Fsck(context.Background(), p, FsckCheck, false)
			FsckTimeout = old
			if err == nil || !strings.Contains(err.Error(), "btrfs check --readonly of whole disk (btrfs") || !strings.Contains(err.Error(), "did not finish") {
				t.Errorf("fsck past its timeout: %v", err)
			}
		}
		if err := d.Detach(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestParseFsckMode(t *testing.T) {
	for in, want := range map[string]FsckMode{"": FsckSkip, "skip": FsckSkip, "check": FsckCheck, "repair": FsckRepair} {
		if got, err := ParseFsckMode(in); err != nil || got != want {
			t.Errorf("ParseFsckMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseFsckMode("Repair"); err == nil || !strings.Contains(err.Error(), "skip, check, repair") {
		t.Errorf("ParseFsckMode(Repair): %v", err)
	}
}

// The output kept of a checker is bounded and is its end.
func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 16}
	for i := 0; i < 100; i++ {
		b.Write([]byte("line\n"))
	}
	b.Write([]byte("last words\n"))
	if len(b.buf) > 16 || !strings.HasSuffix(string(b.buf), "last words\n") {
		t.Errorf("kept %q", b.buf)
	}
	if s := b.summary(1); s != "  last words" {
		t.Errorf("summary %q", s)
	}
}

// An XFS whose log holds changes (the filesystem shut down with the log unwritten, as a
// capture of a running instance can be): check fails saying the log was not replayed;
// repair refuses rather than run xfs_repair -L and leaves the log alone; once a mount has
// replayed the log, repair and check pass and the files written before the shutdown are there.
func TestFsckXFSDirtyLog(t *testing.T) {
	dir := t.TempDir()
	f := bareFS(t, filepath.Join(dir, "xfs.raw"), 512<<20, "mkfs.xfs", "-q")
	d, err := Attach(f, false)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := d.Detach(); err != nil {
			t.Error(err)
		}
	}()
	p := d.Partition(0)
	mnt := mkdir(t, dir, "mnt")
	mount := func() *Mounts {
		m, err := NewMounts(mnt)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.MountRoot(p.Device, "xfs", nil); err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := mount()
	kf, err := os.Create(filepath.Join(mnt, "kept"))
	if err == nil {
		_, err = kf.WriteString("kept")
	}
	if err == nil {
		err = kf.Sync() // its data on disk, its metadata in the log only
	}
	if kf != nil {
		kf.Close()
	}
	if err != nil {
		m.UnmountAll()
		t.Fatal(err)
	}
	if out, err := exec.Command("xfs_io", "-x", "-c", "shutdown -f", mnt).CombinedOutput(); err != nil {
		m.UnmountAll()
		t.Fatalf("xfs_io shutdown: %v\n%s", err, out)
	}
	if err := m.UnmountAll(); err != nil {
		t.Fatal(err)
	}

	err = Fsck(context.Background(), p, FsckCheck, false)
	if err == nil || !strings.Contains(err.Error(), "xfs_repair -n found whole disk (xfs") || !strings.Contains(err.Error(), "log holds changes not yet replayed") {
		t.Errorf("check of a dirty log: %v", err)
	}
	for i := 0; i < 2; i++ { // the second time shows the first changed nothing
		err = Fsck(context.Background(), p, FsckRepair, false)
		if err == nil || !strings.Contains(err.Error(), "does not run xfs_repair -L") || !strings.Contains(err.Error(), "whole disk (xfs") {
			t.Fatalf("repair of a dirty log (%d): %v", i+1, err)
		}
	}
	m = mount() // replays the log
	if err := m.UnmountAll(); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []FsckMode{FsckRepair, FsckCheck} {
		if err := Fsck(context.Background(), p, mode, false); err != nil {
			t.Errorf("fsck %s after the log was replayed: %v", mode, err)
		}
	}
	m = mount()
	defer m.UnmountAll()
	if b, err := os.ReadFile(filepath.Join(mnt, "kept")); err != nil || string(b) != "kept" {
		t.Errorf("file written before the shutdown: %q %v", b, err)
	}
}

// bareFS makes a sparse file of size bytes at path holding one filesystem made by mkfs.
func bareFS(t *testing.T, path string, size int64, mkfs ...string) string {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mkfs[0], append(mkfs[1:], path)...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", mkfs[0], err, out)
	}
	return path
}
