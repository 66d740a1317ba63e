//go:build linux

package bootable

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

// TestBtrfsFedoraBoot: a Fedora-shaped guest (btrfs root in subvolume "root", /home in
// subvolume "home", /boot on ext4) becomes a BIOS disk (GRUB, the default) whose kernel
// command line mounts the root subvolume (rootflags=subvol=root), and boots with SeaBIOS to
// the marker (one TCG boot). (With extlinux, an earlier try printed nothing on the serial
// console within 480 s.)
func TestBtrfsFedoraBoot(t *testing.T) {
	testtier.Acceptance(t, "a qemu boot")
	dir := t.TempDir()
	img := testimages.Make(t, "btrfs-fedora", dir)
	dst := filepath.Join(dir, "bootable-btrfs.raw")
	start := time.Now()
	res, err := Make(context.Background(), img, dst, Options{Firmware: FirmwareBIOS, Logf: func(f string, a ...any) { t.Logf(f, a...) }})
	if err != nil {
		t.Fatalf("Make: %v", err)
	}
	t.Logf("Make took %s: %+v", time.Since(start).Round(time.Millisecond), res)
	checkReleased(t, dst)
	if !strings.HasSuffix(res.Cmdline, " rootflags=subvol=root") || !strings.Contains(res.Cmdline, "root=UUID="+res.RootUUID) {
		t.Errorf("kernel command line %q: want the root subvolume named", res.Cmdline)
	}
	start = time.Now()
	testimages.Boot(t, dst, "raw", 8*time.Minute)
	t.Logf("boot took %s", time.Since(start).Round(time.Second))
}

// An openSUSE-shaped guest keeps its kernel in the root subvolume's /boot (snapper's
// snapshot): bootable refuses it, naming the subvolume and what is supported, and leaves no
// output, loop or mount behind.
func TestBtrfsKernelInSubvolumeRefused(t *testing.T) {
	testtier.Acceptance(t, "bootable's copy and initramfs rebuild")
	dir := t.TempDir()
	img := testimages.Make(t, "btrfs-suse", dir)
	dst := filepath.Join(dir, "bootable-suse.raw")
	_, err := Make(context.Background(), img, dst, Options{Firmware: FirmwareBIOS})
	if err == nil || !strings.Contains(err.Error(), `btrfs subvolume "@/.snapshots/1/snapshot" with the kernel in its /boot`) {
		t.Fatalf("Make of a kernel inside a btrfs subvolume: %v", err)
	}
	if _, serr := os.Stat(dst); !os.IsNotExist(serr) {
		t.Errorf("output left behind after the failure: %v", serr)
	}
	checkReleased(t, dst)
	checkReleased(t, img)
}
