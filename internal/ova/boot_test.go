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
// streamOptimized) and boots each under qemu to the sample's serial marker. For the OVA,
// the VMDK member is extracted with tar and booted. About a minute per boot under TCG.
func TestBootExports(t *testing.T) {
	testtier.Acceptance(t, "qemu boots of three exports")
	if testing.Short() {
		t.Skip("boots take about a minute each")
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
	for _, b := range []struct{ name, path, format string }{
		{"ova", filepath.Join(dir, res.Members[1].Name), "vmdk"},
		{"qcow2", qcow2, "qcow2"},
		{"vmdk", vmdk, "vmdk"},
	} {
		t.Run(b.name, func(t *testing.T) {
			run(t, "qemu-img", "compare", "-f", "raw", "-F", b.format, sample, b.path)
			testimages.Boot(t, b.path, b.format, 5*time.Minute)
		})
	}
}
