package ova_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage/vmdktest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/openstacktest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/ova"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

// TestAccOVAVMDKOnOpenStack uploads the VMDK of an OVA of the bootable sample to the
// all-in-one Glance as disk_format=vmdk and boots a server from it. Glance's upload runs the
// format inspector on the stream and records the virtual size only when it reads the
// header; Nova's deep inspection refuses to boot a vmdk image its inspector takes for raw
// ("Image content does not match disk_format"), so the boot is the consumer's verdict.
func TestAccOVAVMDKOnOpenStack(t *testing.T) {
	testtier.Acceptance(t, "an OVA's VMDK uploaded to the all-in-one OpenStack and booted")
	sample := testimages.Sample(t)
	img, err := diskimage.Open(sample)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	dir := t.TempDir()
	ovaPath := filepath.Join(dir, "sample.ova")
	f, err := os.Create(ovaPath)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ova.Write(context.Background(), f, img, ova.Options{Name: "sample", OS: &ova.OSRelease{ID: "debian", VersionID: "12"}, Controller: "scsi"})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("tar", "-xf", ovaPath, "-C", dir, res.Members[1].Name).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	vmdk := filepath.Join(dir, res.Members[1].Name)
	vmdktest.Require(t, vmdk, "vmdk", img.Size())

	a := openstacktest.Connect(t, "aio-a")
	name := fmt.Sprintf("acc-ova-vmdk-%d", time.Now().UnixNano())
	up := openstacktest.UploadImage(t, a, name, vmdk, "vmdk")
	if up.Status != "active" || up.DiskFormat != "vmdk" || up.VirtualSize != img.Size() {
		t.Errorf("Glance image %s: status %s, disk_format %s, virtual_size %d (want active, vmdk, %d: the inspector read the header)",
			up.ID, up.Status, up.DiskFormat, up.VirtualSize, img.Size())
	}
	openstacktest.BootToLogin(t, a, name, up.ID, openstacktest.BootTimeout)
}
