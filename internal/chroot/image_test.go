package chroot

import (
	"crypto/rand"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
)

// assertReleased fails the test unless nothing is mounted under dir and no loop device is
// backed by image.
func assertReleased(t *testing.T, image, dir string) {
	t.Helper()
	if m := MountedUnder(dir); len(m) > 0 {
		t.Errorf("still mounted under %s: %v", dir, m)
	}
	if l := LoopsBackedBy(image); len(l) > 0 {
		t.Errorf("loops still backed by %s: %v", image, l)
	}
}

// releaseOnFail keeps a failing test from leaking what it opened.
func releaseOnFail(t *testing.T, img *Image) {
	t.Cleanup(func() {
		if err := img.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
}

func allocated(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// OpenImage mounts the root, the fstab's /boot and the chroot mounts on a temporary directory;
// Close kills a process left in the tree, unmounts everything, detaches every loop device and
// removes the directory; a second Close does nothing.
func TestOpenImageClose(t *testing.T) {
	dir := t.TempDir()
	image := testimages.Make(t, "mbr-boot", dir)
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	img, err := OpenImage(image, ImageOptions{
		TempDir: tmp, TempPattern: "open-",
		Guest:        GuestOptions{FstabMounts: DefaultFstabMounts},
		ChrootMounts: DefaultChrootMounts,
	})
	if err != nil {
		t.Fatal(err)
	}
	releaseOnFail(t, img)
	mnt := img.MountPath
	if filepath.Dir(mnt) != tmp || !strings.HasPrefix(filepath.Base(mnt), "open-") {
		t.Errorf("mount path %s, want a new directory open-* in %s", mnt, tmp)
	}
	if img.Root == nil || img.Root.Number != 2 || img.Guest.Root != img.Root {
		t.Errorf("root %v, want partition 2", img.Root)
	}
	mounted := MountedUnder(mnt)
	want := []string{mnt, mnt + "/boot", mnt + "/proc", mnt + "/sys", mnt + "/dev", mnt + "/dev/pts"}
	if strings.Join(mounted, " ") != strings.Join(want, " ") {
		t.Errorf("mounted %v, want %v", mounted, want)
	}
	if l := LoopsBackedBy(image); len(l) != 3 {
		t.Errorf("loops backed by the image: %v, want 3 (disk, 2 partitions)", l)
	}
	if osr, err := img.Guest.Guest().ReadFile("/etc/os-release"); err != nil || !strings.Contains(string(osr), "Debian") {
		t.Errorf("guest os-release: %q %v", osr, err)
	}
	// A daemon a provisioner left running in the guest tree.
	daemon := exec.Command("sleep", "600")
	daemon.Dir = filepath.Join(mnt, "tmp")
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- daemon.Wait() }()

	if err := img.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	werr := <-waited
	var ee *exec.ExitError
	if !errors.As(werr, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("the process left in the guest: %v, want killed", werr)
	}
	assertReleased(t, image, tmp)
	if _, err := os.Stat(mnt); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary mount directory %s left: %v", mnt, err)
	}
	if err := img.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

// An open that fails half-way releases what it had opened: no loop device, no mount, no
// temporary directory; a mount path given by the caller is kept.
func TestOpenImageFailsHalfway(t *testing.T) {
	dir := t.TempDir()
	boot := testimages.Make(t, "mbr-boot", dir)
	noLinux := testimages.Make(t, "no-linux", dir)
	for _, tc := range []struct {
		name, image string
		opts        ImageOptions
		wantErr     string
	}{
		{"no root found", noLinux, ImageOptions{}, "no Linux root filesystem found"},
		{"no such root partition", boot, ImageOptions{Guest: GuestOptions{RootPartition: 7}}, "root_partition 7: the disk has no such partition"},
		{"root partition not Linux", noLinux, ImageOptions{Guest: GuestOptions{RootPartition: 1}}, `root_partition 1 holds "vfat"`},
		// Root, /boot and proc are mounted when the last chroot mount fails.
		{"chroot mount fails", boot, ImageOptions{
			Guest:        GuestOptions{FstabMounts: DefaultFstabMounts},
			ChrootMounts: []ChrootMount{{"proc", "proc", "/proc"}, {"no-such-fs", "none", "/mnt"}},
		}, "chroot_mounts no-such-fs none /mnt"},
		{"layout only, no root", noLinux, ImageOptions{LayoutOnly: true, ReadOnly: true}, "no Linux root filesystem found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			for _, given := range []bool{false, true} {
				opts := tc.opts
				opts.TempDir = tmp
				if given {
					opts.MountPath = filepath.Join(tmp, "given")
				}
				img, err := OpenImage(tc.image, opts)
				if err == nil {
					releaseOnFail(t, img)
					t.Fatalf("open (mount path given: %v) succeeded, want an error", given)
				}
				if img != nil {
					t.Errorf("failed open returned an image")
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %q, want it to say %q", err, tc.wantErr)
				}
				assertReleased(t, tc.image, tmp)
				entries, _ := os.ReadDir(tmp)
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				// The no-root case fails before anything is mounted on a given path: it may
				// not even have been made.
				if len(names) > 1 || (len(names) == 1 && names[0] != "given") || (!given && len(names) > 0) {
					t.Errorf("left in the temporary directory: %v", names)
				}
			}
		})
	}
}

// Exclusive refuses an image already attached, and the image in use stays as it is.
func TestOpenImageExclusive(t *testing.T) {
	dir := t.TempDir()
	image := testimages.Make(t, "bare-ext4", dir)
	img, err := OpenImage(image, ImageOptions{TempDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	releaseOnFail(t, img)
	_, err = OpenImage(image, ImageOptions{TempDir: dir, Exclusive: true})
	if err == nil || !strings.Contains(err.Error(), "is in use (attached to /dev/loop") {
		t.Fatalf("second open: %v, want an in-use error", err)
	}
	if m := MountedUnder(img.MountPath); len(m) != 1 || m[0] != img.MountPath {
		t.Errorf("the first open's mounts: %v", m)
	}
	// A mount path in use is refused too.
	if _, err := OpenImage(image, ImageOptions{MountPath: img.MountPath}); err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("open on a busy mount path: %v, want an in-use error", err)
	}
	if m := MountedUnder(img.MountPath); len(m) != 1 {
		t.Errorf("the first open's mounts after a refused open: %v", m)
	}
	if err := img.Close(); err != nil {
		t.Fatal(err)
	}
	assertReleased(t, image, dir)
}

// Trim after a file was written and deleted in the guest gives its blocks back: the image
// file is as sparse as before. A read-only open trims nothing and cannot write the image.
func TestOpenImageTrimKeepsSparse(t *testing.T) {
	dir := t.TempDir()
	image := testimages.Make(t, "mbr-boot", dir)
	before := allocated(t, image)

	img, err := OpenImage(image, ImageOptions{TempDir: dir, Guest: GuestOptions{FstabMounts: DefaultFstabMounts}})
	if err != nil {
		t.Fatal(err)
	}
	releaseOnFail(t, img)
	const size = 64 << 20
	junk := filepath.Join(img.MountPath, "var/tmp/junk")
	f, err := os.Create(junk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	written := allocated(t, image)
	if written < before+size/2 {
		t.Fatalf("the image grew from %d to only %d bytes after writing %d in the guest", before, written, size)
	}
	if err := os.Remove(junk); err != nil {
		t.Fatal(err)
	}
	var dirs []string
	n, err := img.Trim(func(dir string, trimmed uint64, err error) { dirs = append(dirs, dir) })
	if err != nil {
		t.Fatalf("trim: %v", err)
	}
	if n < size {
		t.Errorf("trimmed %d bytes, want at least the %d deleted", n, size)
	}
	if want := []string{img.MountPath, img.MountPath + "/boot"}; strings.Join(dirs, " ") != strings.Join(want, " ") {
		t.Errorf("trimmed %v, want %v", dirs, want)
	}
	if err := img.Close(); err != nil {
		t.Fatal(err)
	}
	assertReleased(t, image, dir)
	after := allocated(t, image)
	t.Logf("image allocated: %d MiB before, %d MiB with the file, %d MiB after trim", before>>20, written>>20, after>>20)
	if after > before+4<<20 {
		t.Errorf("after trim the image holds %d MiB, was %d MiB before the %d MiB file: not sparse", after>>20, before>>20, size>>20)
	}

	// Read-only: every mount is ro, Trim does nothing.
	ro, err := OpenImage(image, ImageOptions{TempDir: dir, ReadOnly: true, Guest: GuestOptions{FstabMounts: DefaultFstabMounts}})
	if err != nil {
		t.Fatal(err)
	}
	releaseOnFail(t, ro)
	if err := os.WriteFile(filepath.Join(ro.MountPath, "etc/new"), []byte("x"), 0o644); !errors.Is(err, syscall.EROFS) {
		t.Errorf("write in a read-only open: %v, want EROFS", err)
	}
	if n, err := ro.Trim(nil); n != 0 || err != nil {
		t.Errorf("read-only trim: %d, %v; want nothing", n, err)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	assertReleased(t, image, dir)
}

// LayoutOnly finds the root and mounts nothing.
func TestOpenImageLayoutOnly(t *testing.T) {
	dir := t.TempDir()
	image := testimages.Make(t, "gpt-efi", dir)
	img, err := OpenImage(image, ImageOptions{TempDir: dir, ReadOnly: true, LayoutOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	releaseOnFail(t, img)
	if img.Guest != nil || img.Root == nil || img.Root.Number != 2 || img.Root.FSType != "ext4" {
		t.Errorf("layout only: guest %v, root %v; want no guest, root partition 2 (ext4)", img.Guest, img.Root)
	}
	if m := MountedUnder(img.MountPath); len(m) > 0 {
		t.Errorf("layout only mounted %v", m)
	}
	if err := img.Close(); err != nil {
		t.Fatal(err)
	}
	assertReleased(t, image, dir)
	if _, err := os.Stat(img.MountPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("probe directory %s left: %v", img.MountPath, err)
	}
}
