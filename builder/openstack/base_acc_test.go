package openstack

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/openstacktest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

//go:embed test-fixtures/base-provenance.pkr.hcl
var baseProvenanceTemplate string

// TestAccOpenStackBaseProvenance: two Glance images of one lineage (one name; the second is
// the first with a few scattered blocks changed) built in image mode. The first build (a
// provisioner writes into the working copy: its record lists those dirty blocks) is the base
// of the second, which downloads the second image whole but writes into a copy of the first
// working copy only the blocks that differ: exactly the changed and the dirty ones. Its working
// copy (mounted read-only, so left as downloaded) is byte-equal to the second image; its
// record names the base and maps the copy; the base is not written.
func TestAccOpenStackBaseProvenance(t *testing.T) {
	testtier.Acceptance(t, "packer builds against the all-in-one OpenStack cloud")
	env := packertest.Setup(t)
	clouds := openstacktest.CloudsFile(t)
	a := openstacktest.Connect(t, "aio-a")
	dir := t.TempDir()
	raw1, raw2 := filepath.Join(dir, "v1.raw"), filepath.Join(dir, "v2.raw")
	packertest.CopySparse(t, testimages.Sample(t), raw1)
	packertest.CopySparse(t, raw1, raw2)
	// Six 4 KiB pieces in blocks of zeros (free space) of the second image.
	changed := packertest.ChangeFreeBlocks(t, raw2, 18)
	name := fmt.Sprintf("acc-lineage-%d", time.Now().UnixNano())
	upload := func(raw string) string {
		q := raw + ".qcow2"
		if out, err := exec.Command("qemu-img", "convert", "-O", "qcow2", raw, q).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img convert: %v %s", err, out)
		}
		return openstacktest.UploadImage(t, a, name, q, "qcow2").ID
	}
	img1, img2 := upload(raw1), upload(raw2)

	// The second build is mounted read-only, with nothing copied in and no provisioner: its
	// working copy stays as downloaded.
	roTemplate := regexp.MustCompile(`(?s)\n  provisioner "shell" \{.*?\n  \}\n`).ReplaceAllString(baseProvenanceTemplate, "\n")
	build := func(sub, tmpl string, kv ...string) (*packertest.Result, string) {
		d := filepath.Join(dir, sub)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		args := []string{"-var", "clouds_file=" + clouds, "-var", "output_directory=" + filepath.Join(d, "out")}
		for _, v := range kv {
			args = append(args, "-var", v)
		}
		return env.MustBuild(t, d, tmpl, 30*time.Minute, args...), filepath.Join(d, "out", "acc.raw")
	}
	_, wc1 := build("first", baseProvenanceTemplate, "source_image="+img1, "command=echo first > /root/base-marker")
	rec1Path := provenance.SidecarPath(wc1)
	rec1, err := provenance.Read(rec1Path)
	if err != nil {
		t.Fatal(err)
	}
	if rec1.Source.Image != img1 || rec1.Source.ImageName != name || len(rec1.Dirty) == 0 || rec1.WorkingCopy.Stamp == nil {
		t.Fatalf("first record: source %+v, %d dirty blocks, stamp %v", rec1.Source, len(rec1.Dirty), rec1.WorkingCopy.Stamp)
	}

	start := time.Now()
	res, wc2 := build("second", roTemplate, "source_image="+img2, "base_provenance="+rec1Path,
		`mount_options=["ro","noload"]`, "skip_trim=true", "copy_files=[]")
	t.Logf("second build (over the base) took %s", time.Since(start).Round(time.Second))
	rec2 := packertest.CheckUpdatedOverBase(t, res.Output, changed, rec1, rec1Path, wc2, raw2)
	if rec2.Source.Image != img2 {
		t.Errorf("second record's source %+v, want image %s", rec2.Source, img2)
	}
}
