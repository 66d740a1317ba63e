package openstackimport

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/openstacktest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

const interruptTemplate = `
variable "source_path" { type = string }
variable "target" { type = string }
variable "clouds_file" { type = string }
variable "image_name" { type = string }
source "file" "disk" {
  source = var.source_path
  target = var.target
}
build {
  sources = ["source.file.disk"]
  post-processor "chromogenic-openstack-import" {
    cloud       = "aio-b"
    clouds_file = var.clouds_file
    image_name  = var.image_name
    disk_format = "raw"
  }
}
`

// TestAccOpenStackImportInterrupt is a user's Ctrl-C during the upload: a nearly empty
// qcow2 of 8 GiB virtual size (a few hundred KiB on disk, so Packer's file builder copies it
// at once) is converted to raw on the fly, so the upload streams 8 GiB, much longer than
// the test waits. Once Glance shows the new image `saving` (its data arriving), packer's
// process group gets SIGINT. Packer must exit non-zero within a minute, and leave nothing:
// no image of that name in project B in any status, no temporary file next to the input,
// no loop device or mount.
func TestAccOpenStackImportInterrupt(t *testing.T) {
	testtier.Acceptance(t, "a packer build against the all-in-one OpenStack cloud")
	env := packertest.Setup(t)
	clouds := openstacktest.CloudsFile(t)
	b := openstacktest.Connect(t, "aio-b")

	in := t.TempDir()
	src := filepath.Join(in, "disk.qcow2")
	if o, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", src, "8G").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v\n%s", err, o)
	}
	if o, err := exec.Command("qemu-io", "-c", "write -P 0x5a 1M 1M", "-c", "write -P 0xa5 7G 1M", src).CombinedOutput(); err != nil {
		t.Fatalf("qemu-io: %v\n%s", err, o)
	}
	dir := t.TempDir()
	name := fmt.Sprintf("acc-ppsigint-%d", time.Now().UnixNano())
	// whatever happens, nothing of this name stays in the cloud
	t.Cleanup(func() {
		for _, img := range openstacktest.ListImages(t, b) {
			if img.Name == name {
				openstacktest.DeleteImage(t, b, img.ID)
			}
		}
	})
	run := env.Start(t, dir, interruptTemplate, "-var", "source_path="+src,
		"-var", "target="+filepath.Join(dir, "disk.qcow2"), "-var", "clouds_file="+clouds,
		"-var", "image_name="+name)
	// Wait for Glance to be receiving the data.
	run.Until(t, "image "+name+" went to saving", 5*time.Minute, func() bool {
		for _, img := range openstacktest.ListImages(t, b) {
			if img.Name == name && (img.Status == "saving" || img.Status == "uploading") {
				return true
			}
		}
		return false
	})
	time.Sleep(time.Second) // well inside the upload: 8 GiB take minutes here
	run.Interrupt(t, time.Minute)
	output := run.Output
	t.Logf("packer's last lines:\n%s", lastLines(output.String(), 8))
	if strings.Contains(output.String(), "is active") {
		t.Fatalf("the upload finished before the interrupt: the test proved nothing:\n%s", output)
	}

	// No image of that name, in any status (Glance lists every status but deleted).
	for _, img := range openstacktest.ListImages(t, b) {
		if img.Name == name {
			t.Errorf("image %s left in project B with status %s", img.ID, img.Status)
		}
	}
	// Nothing left next to the input or in the build directory but what was there.
	for d, want := range map[string][]string{
		in:  {"disk.qcow2"},
		dir: {"disk.qcow2", "packer.log", "template.pkr.hcl"},
	} {
		ents, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if !slices.Contains(want, e.Name()) {
				t.Errorf("left in %s: %s", d, e.Name())
			}
		}
	}
	if o, err := exec.Command("losetup", "-a").CombinedOutput(); err == nil {
		for _, d := range []string{in, dir} {
			if strings.Contains(string(o), d) {
				t.Errorf("loop device left on a file under %s:\n%s", d, o)
			}
		}
	}
	if m, err := os.ReadFile("/proc/mounts"); err == nil {
		for _, d := range []string{in, dir} {
			if strings.Contains(string(m), d) {
				t.Errorf("mount left under %s", d)
			}
		}
	}
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}
