//go:build linux

package convert

import (
	_ "embed"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

//go:embed test-fixtures/bootable-btrfs.pkr.hcl
var bootableBtrfsTemplate string

// TestAccBootableRootSubvolumeState: through the real packer, chromogenic-local builds an
// openSUSE-shaped guest with root_partition = 1 and root_subvolume = snapper's snapshot 2 (the
// rule would take the default subvolume, snapshot 1), and chromogenic-convert's bootable
// block, which sets no root, makes snapshot 2 of partition 1 bootable: both choices cross in
// the artifact's state (the partition number through Packer's RPC as whatever integer type). The bootable
// disk's snapshot 2 holds the provisioned file and grub.cfg booting its own kernel by its path
// from the btrfs top level with rootflags=subvol= of snapshot 2. (No boot: internal/bootable's
// TestBtrfsSuseGrubBoot boots that shape.)
func TestAccBootableRootSubvolumeState(t *testing.T) {
	testtier.Acceptance(t, "a packer build and a bootable export")
	env := packertest.Setup(t)
	dir := t.TempDir()
	src := testimages.Make(t, "btrfs-suse", dir)
	out, conv := filepath.Join(dir, "out"), filepath.Join(dir, "converted")
	start := time.Now()
	res := env.MustBuild(t, dir, bootableBtrfsTemplate, 20*time.Minute,
		"-var", "source_path="+src, "-var", "output_directory="+out, "-var", "convert_directory="+conv)
	t.Logf("packer build with a bootable export took %s", time.Since(start).Round(time.Second))
	const snap2 = "@/.snapshots/2/snapshot"
	for _, want := range []string{"root partition 1, root subvolume " + snap2, "Bootable disk ready: dos table"} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("packer output lacks %q:\n%s", want, res.Output)
		}
	}
	img, err := chroot.OpenImage(filepath.Join(conv, "suse-bootable.raw"), chroot.ImageOptions{ReadOnly: true, TempDir: dir,
		TempPattern: "check-", Guest: chroot.GuestOptions{RootSubvolume: snap2, FstabMounts: []string{}}})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(img.MountPath, p))
		if err != nil {
			t.Errorf("%s in %s: %v", p, snap2, err)
		}
		return string(b)
	}
	if got := read("etc/chromogenic-picked"); got != "provisioned-in-snapshot-2\n" {
		t.Errorf("provisioned file %q", got)
	}
	cfg := read("boot/grub/grub.cfg")
	for _, want := range []string{"\tlinux /" + snap2 + "/boot/vmlinuz-", "rootflags=subvol=" + snap2 + "\n", "\tinitrd /" + snap2 + "/boot/initrd.img-"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("grub.cfg lacks %q:\n%s", want, cfg)
		}
	}
}
