package openstack

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/bootable"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/openstacktest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

//go:embed test-fixtures/external-kernel.pkr.hcl
var externalKernelTemplate string

// TestAccOpenStackExternalKernel: an image in the AMI/AKI/ARI shape (a bare ext4 filesystem
// whose kernel and ramdisk are separate Glance images named by its kernel_id and ramdisk_id
// properties, as Nova boots it) is brought home by chromogenic-openstack, which fetches the
// kernel and ramdisk next to the working copy, and chromogenic-convert's bootable export folds
// them into a stand-alone disk without being told where they are: the disk's /boot holds the
// very kernel Glance had, and the files next to the working copy are gone with it.
func TestAccOpenStackExternalKernel(t *testing.T) {
	testtier.Acceptance(t, "a packer build against the all-in-one OpenStack cloud")
	env := packertest.Setup(t)
	clouds := openstacktest.CloudsFile(t)
	a := openstacktest.Connect(t, "aio-a")
	dir := t.TempDir()
	kernel, aki, ari, ami := uploadAMI(t, a, dir)

	out := filepath.Join(dir, "out")
	res := env.MustBuild(t, dir, externalKernelTemplate, 30*time.Minute,
		"-var", "clouds_file="+clouds, "-var", "source_image="+ami, "-var", "output_directory="+out)
	for _, want := range []string{"external kernel_id " + aki, "external ramdisk_id " + ari} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("build output lacks %q", want)
		}
	}
	// The working copy and the fetched kernel and ramdisk went with the input artifact.
	ver, err := bootable.KernelVersion(kernel)
	if err != nil {
		t.Fatal(err)
	}
	packertest.CheckFoldedKernel(t, out, kernel, ver, filepath.Join(out, "work"), "/etc/chromogenic-kernel-test", "folded\n")
}

// uploadAMI uploads an image in the AMI/AKI/ARI shape (testimages.Eucalyptus: a bare ext4
// filesystem, its kernel and its ramdisk) to a's Glance, deleted when the test ends, and
// returns the kernel's local path and the three image IDs.
func uploadAMI(t *testing.T, a *cloud.Clients, dir string) (kernel, aki, ari, ami string) {
	t.Helper()
	image, kernel, ramdisk := testimages.Eucalyptus(t, dir)
	stamp := time.Now().UnixNano()
	upload := func(name, path, format string, props map[string]string) string {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		img, err := cloud.Upload(ctx, a.Image, cloud.NewImage{Name: name, DiskFormat: format,
			ContainerFormat: format, Properties: props}, f, nil)
		if err != nil {
			t.Fatalf("upload %s: %v", path, err)
		}
		t.Cleanup(func() { openstacktest.DeleteImage(t, a, img.ID) })
		return img.ID
	}
	aki = upload(fmt.Sprintf("acc-aki-%d", stamp), kernel, "aki", nil)
	ari = upload(fmt.Sprintf("acc-ari-%d", stamp), ramdisk, "ari", nil)
	ami = upload(fmt.Sprintf("acc-ami-%d", stamp), image, "ami",
		map[string]string{"kernel_id": aki, "ramdisk_id": ari, "os_distro": "debian"})
	os.Remove(image)
	return kernel, aki, ari, ami
}

//go:embed test-fixtures/external-kernel-upload.pkr.hcl
var externalKernelUploadTemplate string

// buildFromAMI uploads an AMI/AKI/ARI-shaped image to project A and rebuilds it in image
// mode with external_kernel = mode (external-kernel-upload.pkr.hcl: image_min_ram 256, a
// provisioner writing mode to /etc/chromogenic-kernel-test); it returns the new image
// (deleted when the test ends), the build output and the kernel and ramdisk image IDs.
func buildFromAMI(t *testing.T, mode string, extra ...string) (img *images.Image, output, aki, ari string) {
	t.Helper()
	env := packertest.Setup(t)
	clouds := openstacktest.CloudsFile(t)
	a := openstacktest.Connect(t, "aio-a")
	dir := t.TempDir()
	_, aki, ari, ami := uploadAMI(t, a, dir)
	name := fmt.Sprintf("acc-osopts-%s-%d", mode, time.Now().UnixNano())
	args := append([]string{"-var", "clouds_file=" + clouds, "-var", "source_image=" + ami,
		"-var", "output_directory=" + filepath.Join(dir, "out"), "-var", "image_name=" + name, "-var", "external_kernel=" + mode}, extra...)
	res := env.MustBuild(t, dir, externalKernelUploadTemplate, 30*time.Minute, args...)
	img = imageNamed(t, a, name)
	if img == nil {
		t.Fatalf("image %s not in Glance after the build:\n%s", name, res.Output)
	}
	t.Cleanup(func() { openstacktest.DeleteImage(t, a, img.ID) })
	if img.MinRAMMegabytes != 256 {
		t.Errorf("%s: min_ram %d, want image_min_ram 256", mode, img.MinRAMMegabytes)
	}
	if img.Properties["os_distro"] != "debian" {
		t.Errorf("%s: os_distro %v not carried", mode, img.Properties["os_distro"])
	}
	return img, res.Output, aki, ari
}

// TestAccOpenStackExternalKernelCarry: an AMI/AKI/ARI-shaped image rebuilt in image mode
// with external_kernel = "carry" is a raw/bare image with the source's kernel_id and
// ramdisk_id (and the set min_ram), shared with project B by ID; the build warns that B
// cannot see the private kernel and ramdisk; Nova boots the image (a bare filesystem, no
// bootloader: only the external kernel can start it) with them to a login prompt.
func TestAccOpenStackExternalKernelCarry(t *testing.T) {
	testtier.Acceptance(t, "a packer build and a boot on the all-in-one OpenStack cloud")
	idB := projectID(t, openstacktest.Connect(t, "aio-b"))
	carry, output, aki, ari := buildFromAMI(t, "carry", "-var", "visibility=shared", "-var", `members=["`+idB+`"]`)
	if carry.DiskFormat != "raw" || carry.ContainerFormat != "bare" || carry.Properties["kernel_id"] != aki || carry.Properties["ramdisk_id"] != ari {
		t.Errorf("carry: %s/%s kernel_id %v ramdisk_id %v; want raw/bare %s %s", carry.DiskFormat, carry.ContainerFormat,
			carry.Properties["kernel_id"], carry.Properties["ramdisk_id"], aki, ari)
	}
	if carry.Visibility != "shared" {
		t.Errorf("carry: visibility %s, want shared", carry.Visibility)
	}
	for _, id := range []string{aki, ari} {
		if !strings.Contains(output, id+" is private: projects other than") {
			t.Errorf("carry: no warning that %s is private to the image's members", id)
		}
	}
	a := openstacktest.Connect(t, "aio-a")
	console := openstacktest.BootToLogin(t, a, carry.Name+"-boot", carry.ID, openstacktest.BootTimeout)
	if !strings.Contains(console, "Linux version") {
		t.Errorf("carry: the console shows no kernel booting")
	}
}

// TestAccOpenStackExternalKernelBootable: with external_kernel = "bootable" the rebuilt image
// is a qcow2 whole disk (qemu-img check clean, an MBR partition table, the provisioned file
// in its root) without kernel_id and ramdisk_id, and Nova boots it on its own to a login
// prompt.
func TestAccOpenStackExternalKernelBootable(t *testing.T) {
	testtier.Acceptance(t, "a packer build and a boot on the all-in-one OpenStack cloud")
	boot, _, _, _ := buildFromAMI(t, "bootable")
	a := openstacktest.Connect(t, "aio-a")
	dir := t.TempDir()
	if boot.DiskFormat != "qcow2" || boot.ContainerFormat != "bare" {
		t.Errorf("bootable: %s/%s, want qcow2/bare", boot.DiskFormat, boot.ContainerFormat)
	}
	for _, k := range []string{"kernel_id", "ramdisk_id"} {
		if v, ok := boot.Properties[k]; ok {
			t.Errorf("bootable: the image still has %s %v", k, v)
		}
	}
	booted := openstacktest.GoBootToLogin(t, a, boot.Name+"-boot", boot.ID, openstacktest.BootTimeout)
	got := filepath.Join(dir, "bootable.qcow2")
	openstacktest.DownloadImage(t, a, boot.ID, got)
	if out, err := exec.Command("qemu-img", "check", got).CombinedOutput(); err != nil {
		t.Errorf("qemu-img check of the bootable image: %v\n%s", err, out)
	}
	raw := filepath.Join(dir, "bootable.raw")
	if out, err := exec.Command("qemu-img", "convert", "-O", "raw", got, raw).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v\n%s", err, out)
	}
	mbr := make([]byte, 512)
	if f, err := os.Open(raw); err != nil {
		t.Fatal(err)
	} else {
		f.ReadAt(mbr, 0)
		f.Close()
	}
	if mbr[510] != 0x55 || mbr[511] != 0xaa || mbr[446+4] == 0 {
		t.Errorf("bootable: no MBR partition table (signature %x, first type %x)", mbr[510:], mbr[446+4])
	}
	if files := packertest.GuestFiles(t, raw, "/etc/chromogenic-kernel-test"); string(files["/etc/chromogenic-kernel-test"]) != "bootable\n" {
		t.Errorf("bootable: /etc/chromogenic-kernel-test = %q", files["/etc/chromogenic-kernel-test"])
	}
	os.Remove(raw)
	booted()
}

func projectID(t *testing.T, c *cloud.Clients) string {
	t.Helper()
	r, ok := c.Provider.GetAuthResult().(tokens.CreateResult)
	if !ok {
		t.Fatalf("auth result %T", c.Provider.GetAuthResult())
	}
	p, err := r.ExtractProject()
	if err != nil || p == nil {
		t.Fatalf("project of the token: %v", err)
	}
	return p.ID
}
