package packertest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
)

// CheckFoldedKernel checks the one raw bootable export in dir (chromogenic-convert with
// bootable and no kernel given) of a build whose builder fetched an external kernel: the disk
// has a partition table, its /boot/vmlinuz-<ver> is byte for byte the given kernel file,
// its initramfs for that version is there, the guest file path holds want, and the builder's
// work directory (working copy, fetched kernel and ramdisk) is empty.
func CheckFoldedKernel(t testing.TB, dir, kernel, ver, work, path, want string) {
	t.Helper()
	disks, _ := filepath.Glob(filepath.Join(dir, "*.raw"))
	if len(disks) != 1 {
		t.Fatalf("bootable outputs %v", disks)
	}
	if _, parts, err := chroot.ReadPartitions(disks[0]); err != nil || len(parts) == 0 {
		t.Fatalf("bootable disk %s has no partition table: %v %v", disks[0], parts, err)
	}
	kernelData, err := os.ReadFile(kernel)
	if err != nil {
		t.Fatal(err)
	}
	files := GuestFiles(t, disks[0], "/boot/vmlinuz-"+ver, "/boot/initrd.img-"+ver, path)
	if !bytes.Equal(files["/boot/vmlinuz-"+ver], kernelData) {
		t.Errorf("/boot/vmlinuz-%s on the bootable disk (%d bytes) is not the external kernel (%d bytes)",
			ver, len(files["/boot/vmlinuz-"+ver]), len(kernelData))
	}
	if len(files["/boot/initrd.img-"+ver]) == 0 {
		t.Errorf("/boot/initrd.img-%s missing on the bootable disk", ver)
	}
	if string(files[path]) != want {
		t.Errorf("%s = %q, want %q", path, files[path], want)
	}
	if left, _ := filepath.Glob(filepath.Join(work, "*")); len(left) != 0 {
		t.Errorf("left in the builder's output directory: %v", left)
	}
}
