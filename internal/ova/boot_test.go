package ova

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

// TestBootExports exports the bootable sample image once per format (OVA, qcow2, VMDK
// streamOptimized); qemu-img compare shows each presents the sample's exact bytes, and the
// OVA's VMDK member (extracted with tar) boots under qemu to the sample's serial marker.
//
// Only the OVA member is booted (one to several minutes under TCG): the standalone VMDK is
// the same vmdk writer's output as the member, and for it and the qcow2 the boot repeated
// what qemu-img compare already proves, that qemu's block layer (which qemu-system reads
// through) returns the very bytes of the sample that boots.
func TestBootExports(t *testing.T) {
	testtier.Acceptance(t, "a qemu boot of an OVA's disk")
	if testing.Short() {
		t.Skip("the boot takes a minute or more under TCG")
	}
	sample := testimages.Sample(t)
	dir := t.TempDir()
	img, err := diskimage.Open(sample)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	ctx := context.Background()

	ovaPath := filepath.Join(dir, "sample.ova")
	f, err := os.Create(ovaPath)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Write(ctx, f, img, Options{Name: "sample", OS: &OSRelease{ID: "debian", VersionID: "12"}})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	run(t, "tar", "-xf", ovaPath, "-C", dir, res.Members[1].Name)
	qcow2 := filepath.Join(dir, "sample.qcow2")
	if err := diskimage.Convert(ctx, img, qcow2, "qcow2", diskimage.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	vmdk := filepath.Join(dir, "sample.vmdk")
	if err := diskimage.Convert(ctx, img, vmdk, "vmdk", diskimage.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, b := range []struct {
		name, path, format string
		boot               bool
	}{
		{"ova", filepath.Join(dir, res.Members[1].Name), "vmdk", true},
		{"qcow2", qcow2, "qcow2", false},
		{"vmdk", vmdk, "vmdk", false},
	} {
		t.Run(b.name, func(t *testing.T) {
			run(t, "qemu-img", "compare", "-f", "raw", "-F", b.format, sample, b.path)
			if b.boot {
				testimages.Boot(t, b.path, b.format, 5*time.Minute)
			}
		})
	}
}
