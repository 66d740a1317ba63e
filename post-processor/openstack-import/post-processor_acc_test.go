package openstackimport

import (
	_ "embed"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/openstacktest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

//go:embed test-fixtures/template.pkr.hcl
var accTemplate string

// TestAccOpenStackImport provisions the sample locally and pushes it to project B of the
// all-in-one cloud as a stream-optimized VMDK written straight into the upload: the image is
// active, private, carries its properties, and its data compares identical to the working copy.
func TestAccOpenStackImport(t *testing.T) {
	testtier.Acceptance(t, "a packer build against the all-in-one OpenStack cloud")
	env := packertest.Setup(t)
	clouds := openstacktest.CloudsFile(t)
	b := openstacktest.Connect(t, "aio-b")
	dir := t.TempDir()
	src := filepath.Join(dir, "source.raw")
	packertest.CopySparse(t, testimages.Sample(t), src)
	out := filepath.Join(dir, "out")
	name := fmt.Sprintf("acc-import-%d", time.Now().UnixNano())
	res := env.MustBuild(t, dir, accTemplate, 20*time.Minute, "-var", "source_path="+src,
		"-var", "output_directory="+out, "-var", "clouds_file="+clouds, "-var", "image_name="+name)
	var id string
	for _, img := range openstacktest.ListImages(t, b) {
		if img.Name == name {
			id = img.ID
			t.Cleanup(func() { openstacktest.DeleteImage(t, b, img.ID) })
			if img.Status != "active" || img.Visibility != "private" || img.DiskFormat != "vmdk" || img.Properties["os_distro"] != "debian" {
				t.Errorf("imported image: %s %s %s %v", img.Status, img.Visibility, img.DiskFormat, img.Properties)
			}
		}
	}
	if id == "" {
		t.Fatalf("image %s not in project B:\n%s", name, res.Output)
	}
	got := filepath.Join(dir, "got.vmdk")
	openstacktest.DownloadImage(t, b, id, got)
	if o, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", "vmdk", filepath.Join(out, "migrate.raw"), got).CombinedOutput(); err != nil {
		t.Errorf("imported image differs from the working copy: %v\n%s", err, o)
	}
}
