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

//go:embed test-fixtures/ova.pkr.hcl
var ovaTemplate string

// TestAccOpenStackImportOVA: after chromogenic-convert with formats ["ova", "qcow2"], the
// import uploads the qcow2 (its disk_format) and not the OVA that convert's image_path
// names first; after an OVA-only convert, it reads the VMDK inside the OVA. Both Glance
// images are qcow2 whose data compares identical to the working copy.
func TestAccOpenStackImportOVA(t *testing.T) {
	testtier.Acceptance(t, "a packer build against the all-in-one OpenStack cloud")
	env := packertest.Setup(t)
	clouds := openstacktest.CloudsFile(t)
	b := openstacktest.Connect(t, "aio-b")
	dir := t.TempDir()
	src := filepath.Join(dir, "source.raw")
	packertest.CopySparse(t, testimages.Sample(t), src)
	out := filepath.Join(dir, "out")
	name := fmt.Sprintf("acc-import-ova-%d", time.Now().UnixNano())
	res := env.MustBuild(t, dir, ovaTemplate, 25*time.Minute, "-var", "source_path="+src,
		"-var", "output_directory="+out, "-var", "clouds_file="+clouds, "-var", "image_name="+name)
	res.WantOutput(t,
		"Uploading "+filepath.Join(out, "both.qcow2")+" (qcow2) as image",
		"is already qcow2: uploaded as it is",
		"Uploading "+filepath.Join(out, "only.ova")+" (ova; disk only-disk1.vmdk, vmdk) as image")
	ids := map[string]string{}
	for _, img := range openstacktest.ListImages(t, b) {
		for _, suffix := range []string{"both", "only"} {
			if img.Name == name+"-"+suffix {
				ids[suffix] = img.ID
				t.Cleanup(func() { openstacktest.DeleteImage(t, b, img.ID) })
				if img.Status != "active" || img.DiskFormat != "qcow2" {
					t.Errorf("image %s: %s %s", img.Name, img.Status, img.DiskFormat)
				}
			}
		}
	}
	working := filepath.Join(out, "ova.raw")
	for _, suffix := range []string{"both", "only"} {
		id, ok := ids[suffix]
		if !ok {
			t.Errorf("image %s-%s not in project B:\n%s", name, suffix, res.Output)
			continue
		}
		got := filepath.Join(dir, suffix+".qcow2")
		openstacktest.DownloadImage(t, b, id, got)
		if o, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", "qcow2", working, got).CombinedOutput(); err != nil {
			t.Errorf("image %s differs from the working copy: %v\n%s", suffix, err, o)
		}
	}
}
