//go:build linux

package local

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

//go:embed test-fixtures/xfs.pkr.hcl
var xfsTemplate string

// TestAccLocalXFSClone builds an XFS guest with the real packer while its source stays mounted
// on the host: the working copy is a clone of the same XFS UUID, which the kernel refuses to
// mount twice without nouuid. chromogenic-local (fsck = "check"), a shell provisioner,
// chromogenic-clean and chromogenic-convert making it bootable (GRUB for BIOS) as an OVA. The
// OVA's disk passes qemu-img check and holds the XFS with the marker and without the bash
// history; it boots with SeaBIOS, the guest printing the marker from its XFS root (one TCG
// boot). The source is byte-identical; its mount is the only one left.
func TestAccLocalXFSClone(t *testing.T) {
	testtier.Acceptance(t, "a packer build")
	env := packertest.Setup(t)
	dir := t.TempDir()
	src := testimages.Make(t, "xfs-root", dir)
	before := packertest.FileSHA256(t, src)

	// The source, mounted read-only for the whole build.
	srcDisk, err := chroot.Attach(src, true)
	if err != nil {
		t.Fatal(err)
	}
	srcMnt := filepath.Join(dir, "source-mnt")
	os.Mkdir(srcMnt, 0o700)
	if err := unix.Mount(srcDisk.Partition(1).Device, srcMnt, "xfs", unix.MS_RDONLY, ""); err != nil {
		srcDisk.Detach()
		t.Fatalf("mount the source: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(srcMnt, 0); err != nil {
			t.Errorf("unmount the source: %v", err)
		}
		if err := srcDisk.Detach(); err != nil {
			t.Error(err)
		}
	})

	marker := fmt.Sprintf("marker-%d", time.Now().UnixNano())
	out, conv := filepath.Join(dir, "out"), filepath.Join(dir, "conv")
	env.MustBuild(t, dir, xfsTemplate, 15*time.Minute, "-var", "source_path="+src, "-var", "output_directory="+out,
		"-var", "convert_directory="+conv, "-var", "marker="+marker)
	assertReleased(t, filepath.Join(out, "mnt"), filepath.Join(out, "xfs.raw"))
	if m := chroot.MountedUnder(srcMnt); len(m) != 1 {
		t.Errorf("the source's mount after the build: %v", m)
	}

	raw := ovaDiskRaw(t, filepath.Join(conv, "xfs.ova"), filepath.Join(dir, "xfs-ova"))
	_, parts, err := chroot.ReadPartitions(raw)
	if err != nil || len(parts) != 1 {
		t.Fatalf("partitions of the OVA's disk: %v %v", parts, err)
	}
	l, err := chroot.AttachLoop(raw, parts[0].Start, parts[0].Size, true)
	if err != nil {
		t.Fatal(err)
	}
	d := t.TempDir()
	// The export's XFS has the source's UUID too: nouuid beside the mounted source.
	if err := unix.Mount(l.Path, d, "xfs", unix.MS_RDONLY, "nouuid,norecovery"); err != nil {
		l.Detach()
		t.Fatalf("mount the OVA disk's XFS: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(d, "etc/acc-marker")); err != nil || string(got) != marker+"\n" {
		t.Errorf("marker in the export: %q %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(d, "root/.bash_history")); !os.IsNotExist(err) {
		t.Errorf("bash history in the export after chromogenic-clean: %v", err)
	}
	if cfg, err := os.ReadFile(filepath.Join(d, "boot/grub/grub.cfg")); err != nil || !strings.Contains(string(cfg), "root=UUID=") {
		t.Errorf("grub.cfg in the export: %v\n%s", err, cfg)
	}
	unix.Unmount(d, 0)
	if err := l.Detach(); err != nil {
		t.Error(err)
	}

	start := time.Now()
	_, serial := testimages.BootDisks(t, []testimages.BootDisk{{Path: raw, Format: "raw"}}, 8*time.Minute, testimages.BootOptions{})
	if !strings.Contains(serial, "XFS-MARKER "+marker+" xfs") {
		t.Errorf("the guest did not print the marker from its XFS root; serial ends:\n%s", tail(serial, 2000))
	}
	t.Logf("boot took %s", time.Since(start).Round(time.Second))
	if after := packertest.FileSHA256(t, src); after != before {
		t.Errorf("source image changed: sha256 %s -> %s", before, after)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
