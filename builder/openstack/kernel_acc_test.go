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

// TestAccOpenStackExternalKernel uploads one image in the AMI/AKI/ARI shape (a bare ext4
// filesystem whose kernel and ramdisk are separate Glance images named by its kernel_id and
// ramdisk_id properties, as Nova boots it) to project A and runs three packer builds from it
// (the upload is deleted when all three are over):
//   - carry: rebuilt in image mode with external_kernel = "carry", booted by Nova;
//   - folds/fold: chromogenic-openstack brings it home, fetching the kernel and ramdisk next
//     to the working copy, and chromogenic-convert's bootable export folds them into a
//     stand-alone disk without being told where they are;
//   - folds/bootable: rebuilt in image mode with external_kernel = "bootable".
//
// carry and folds run at once, as two parallel subtests (go test runs at most GOMAXPROCS
// parallel tests, two on the CI machine): carry's Nova boot overlaps the two folds, which
// rebuild an initramfs each and run one after the other.
func TestAccOpenStackExternalKernel(t *testing.T) {
	testtier.Acceptance(t, "packer builds and a boot on the all-in-one OpenStack cloud")
	packertest.Setup(t)
	a := openstacktest.Connect(t, "aio-a")
	src := uploadAMI(t, a, t.TempDir())
	t.Run("carry", func(t *testing.T) {
		t.Parallel()
		testExternalKernelCarry(t, src)
	})
	t.Run("folds", func(t *testing.T) {
		t.Parallel()
		t.Run("fold", func(t *testing.T) { testExternalKernelFold(t, src) })
		t.Run("bootable", func(t *testing.T) { testExternalKernelBootable(t, src) })
	})
}

// amiSource is an AMI/AKI/ARI-shaped image in Glance: the kernel's local copy and the
// three image IDs.
type amiSource struct {
	kernel, aki, ari, ami string
}

// testExternalKernelFold: the source brought home by chromogenic-openstack (skip_upload) and
// folded by chromogenic-convert's bootable export: the disk's /boot holds the very kernel
// Glance had, and the files next to the working copy are gone with it.
func testExternalKernelFold(t *testing.T, src amiSource) {
	env := packertest.Setup(t)
	clouds := openstacktest.CloudsFile(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	res := env.MustBuild(t, dir, externalKernelTemplate, 30*time.Minute,
		"-var", "clouds_file="+clouds, "-var", "source_image="+src.ami, "-var", "output_directory="+out)
	for _, want := range []string{"external kernel_id " + src.aki, "external ramdisk_id " + src.ari} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("build output lacks %q", want)
		}
	}
	// The working copy and the fetched kernel and ramdisk went with the input artifact.
	ver, err := bootable.KernelVersion(src.kernel)
	if err != nil {
		t.Fatal(err)
	}
	packertest.CheckFoldedKernel(t, out, src.kernel, ver, filepath.Join(out, "work"), "/etc/chromogenic-kernel-test", "folded\n")
}

// uploadAMI uploads an image in the AMI/AKI/ARI shape (testimages.Eucalyptus: a bare ext4
// filesystem, its kernel and its ramdisk) to a's Glance, deleted when the test (and its
// subtests) end, and returns the kernel's local path (in dir) and the three image IDs.
func uploadAMI(t *testing.T, a *cloud.Clients, dir string) amiSource {
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
	src := amiSource{kernel: kernel}
	src.aki = upload(fmt.Sprintf("acc-aki-%d", stamp), kernel, "aki", nil)
	src.ari = upload(fmt.Sprintf("acc-ari-%d", stamp), ramdisk, "ari", nil)
	src.ami = upload(fmt.Sprintf("acc-ami-%d", stamp), image, "ami",
		map[string]string{"kernel_id": src.aki, "ramdisk_id": src.ari, "os_distro": "debian"})
	os.Remove(image)
	return src
}

//go:embed test-fixtures/external-kernel-upload.pkr.hcl
var externalKernelUploadTemplate string

// buildFromAMI rebuilds src in project A in image mode with external_kernel = mode
// (external-kernel-upload.pkr.hcl: image_min_ram 256, a provisioner writing mode to
// /etc/chromogenic-kernel-test); it returns the new image (deleted when the test ends) and
// the build output.
func buildFromAMI(t *testing.T, src amiSource, mode string, extra ...string) (img *images.Image, output string) {
	t.Helper()
	env := packertest.Setup(t)
	clouds := openstacktest.CloudsFile(t)
	a := openstacktest.Connect(t, "aio-a")
	dir := t.TempDir()
	name := fmt.Sprintf("acc-osopts-%s-%d", mode, time.Now().UnixNano())
	args := append([]string{"-var", "clouds_file=" + clouds, "-var", "source_image=" + src.ami,
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
	return img, res.Output
}

// testExternalKernelCarry: the AMI/AKI/ARI-shaped source rebuilt in image mode with
// external_kernel = "carry" is a raw/bare image with the source's kernel_id and ramdisk_id
// (and the set min_ram), shared with project B by ID; the build warns that B cannot see the
// private kernel and ramdisk; Nova boots the image (a bare filesystem, no bootloader: only the
// external kernel can start it) with them to a login prompt.
func testExternalKernelCarry(t *testing.T, src amiSource) {
	idB := projectID(t, openstacktest.Connect(t, "aio-b"))
	carry, output := buildFromAMI(t, src, "carry", "-var", "visibility=shared", "-var", `members=["`+idB+`"]`)
	aki, ari := src.aki, src.ari
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

// testExternalKernelBootable: with external_kernel = "bootable" the rebuilt image is a qcow2
// whole disk (qemu-img check clean, an MBR partition table, the provisioned file in its root)
// without kernel_id and ramdisk_id.
//
// It is not booted in Nova: that the disk boots is what internal/bootable's
// TestEucalyptusBIOSBoot proves (the same bootable.Make, BIOS firmware as the builder's
// step_bootable.go uses, on the same Eucalyptus-shaped testimages source, booted under qemu
// TCG, SeaBIOS and a virtio disk as Nova attaches it, until the guest's boot marker shows on
// its serial console), and that Nova boots a whole disk this builder uploads is what
// TestAccOpenStack's image-mode subtest proves (its new image booted to a login prompt); a
// boot here repeated both at several minutes of TCG.
func testExternalKernelBootable(t *testing.T, src amiSource) {
	boot, _ := buildFromAMI(t, src, "bootable")
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
