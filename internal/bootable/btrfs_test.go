//go:build linux

package bootable

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

// A Fedora-shaped guest (btrfs root in subvolume "root", /boot on ext4) made bootable and
// booted under TCG: builder/local's TestAccLocalBtrfsFedora, through the real packer.

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
