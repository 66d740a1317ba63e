package ova_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
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
// Before the boot, the same disk is streamed from the writer through a pipe into a second
// upload, read back and compared with the sample.
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

	// The same disk streamed straight from the writer into the upload, as
	// chromogenic-openstack-import does with disk_format = "vmdk": through a pipe, so the
	// writer makes its sizing pass; Glance's inspector reads the header it streams first.
	w, err := diskimage.LookupWriter("vmdk")
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(w.Write(context.Background(), pw, img, diskimage.WriteOptions{})) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	streamed, err := cloud.Upload(ctx, a.Image, cloud.NewImage{Name: name + "-streamed", DiskFormat: "vmdk"}, pr, nil)
	pr.CloseWithError(err)
	if err != nil {
		t.Fatalf("streamed upload: %v", err)
	}
	t.Cleanup(func() { openstacktest.DeleteImage(t, a, streamed.ID) })
	if streamed.Status != "active" || streamed.VirtualSize != img.Size() {
		t.Errorf("streamed Glance image %s: status %s, virtual_size %d, want active, %d", streamed.ID, streamed.Status, streamed.VirtualSize, img.Size())
	}
	got := filepath.Join(dir, "streamed.vmdk")
	openstacktest.DownloadImage(t, a, streamed.ID, got)
	vmdktest.Require(t, got, "vmdk", img.Size())
	if out, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", "vmdk", sample, got).CombinedOutput(); err != nil {
		t.Errorf("streamed image differs from the sample: %v\n%s", err, out)
	}
	// The boot last, alone: a TCG guest on a busy host can fail its timer check.
	openstacktest.BootToLogin(t, a, name, up.ID, openstacktest.BootTimeout)
}
