package openstack

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	aki := upload(fmt.Sprintf("acc-aki-%d", stamp), kernel, "aki", nil)
	ari := upload(fmt.Sprintf("acc-ari-%d", stamp), ramdisk, "ari", nil)
	ami := upload(fmt.Sprintf("acc-ami-%d", stamp), image, "ami",
		map[string]string{"kernel_id": aki, "ramdisk_id": ari, "os_distro": "debian"})
	os.Remove(image)

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
