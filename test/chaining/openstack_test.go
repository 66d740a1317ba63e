package chaining

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/openstacktest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
)

const localSource = `
source "chromogenic-local" "chain" {
  source_path      = var.source
  output_directory = "${var.out}/work"
  mount_path       = "${var.out}/mnt"
  root_partition   = 1
}
`

// openstackSource is image mode from a Glance image of project A: no server boots.
const openstackSource = `
source "chromogenic-openstack" "chain" {
  cloud             = "aio-a"
  clouds_file       = var.clouds_file
  source_image      = var.source
  image_name        = "${var.name}-built"
  image_disk_format = "qcow2"
  root_partition    = 1
  output_directory  = "${var.out}/work"
  mount_path        = "${var.out}/mnt"
}
`

const openstackImport = `
    post-processor "chromogenic-openstack-import" {
      cloud               = "aio-b"
      clouds_file         = var.clouds_file
      image_name          = "${var.name}-%[1]s"
      disk_format         = var.%[1]s_format
      keep_input_artifact = var.keep
    }`

// projects are the clients of the all-in-one cloud's projects A (builders) and B (imports).
type projects struct {
	clouds string
	a, b   *cloud.Clients
}

func connectProjects(t *testing.T) *projects {
	t.Helper()
	return &projects{clouds: openstacktest.CloudsFile(t), a: openstacktest.Connect(t, "aio-a"), b: openstacktest.Connect(t, "aio-b")}
}

// watch deletes, when the test ends, every image of either project whose name starts with
// prefix, in whatever status: what a failing build or test left.
func (p *projects) watch(t *testing.T, prefix string) {
	t.Cleanup(func() {
		for _, c := range []*cloud.Clients{p.a, p.b} {
			for _, img := range openstacktest.ListImages(t, c) {
				if strings.HasPrefix(img.Name, prefix) {
					openstacktest.DeleteImage(t, c, img.ID)
				}
			}
		}
	})
}

// checkGlance checks the images of a project whose names start with prefix: exactly one
// active image of each wanted name, and nothing else (no half image, no intermediate). An
// image named in maybe may be missing, but when it is there it is checked like a wanted one.
func checkGlance(t *testing.T, c *cloud.Clients, project, prefix string, want, maybe []string) {
	t.Helper()
	got := map[string][]images.Image{}
	for _, img := range openstacktest.ListImages(t, c) {
		if strings.HasPrefix(img.Name, prefix) {
			got[img.Name] = append(got[img.Name], img)
		}
	}
	for _, name := range append(slices.Clone(want), maybe...) {
		imgs := got[name]
		switch {
		case len(imgs) == 0 && slices.Contains(maybe, name):
		case len(imgs) == 0:
			t.Errorf("project %s: image %s is gone", project, name)
		case len(imgs) > 1:
			t.Errorf("project %s: %d images named %s", project, len(imgs), name)
		case imgs[0].Status != images.ImageStatusActive:
			t.Errorf("project %s: image %s (%s) is %s, want active", project, name, imgs[0].ID, imgs[0].Status)
		}
		delete(got, name)
	}
	var extra []string
	for name, imgs := range got {
		for _, img := range imgs {
			extra = append(extra, fmt.Sprintf("%s %s (%s)", img.ID, name, img.Status))
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Errorf("project %s: unexpected images of the build: %v", project, extra)
	}
}

// TestAccChainingLocal: chromogenic-local on the tiny guest, importing into project B.
func TestAccChainingLocal(t *testing.T) {
	accOnly(t)
	t.Parallel()
	p := connectProjects(t)
	src := filepath.Join(t.TempDir(), "source.raw")
	packertest.CopySparse(t, tiny(t), src)
	sum := packertest.FileSHA256(t, src)
	tpl := chains("chromogenic-local", localSource, openstackImport)
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keep=%t", keep), func(t *testing.T) {
			t.Parallel()
			b := newBuild(t, "local", keep, "source", src, "clouds_file", p.clouds)
			p.watch(t, b.name)
			b.run(t, tpl)
			checkGlance(t, p.a, "A", b.name, nil, nil)
			checkGlance(t, p.b, "B", b.name, []string{b.name + "-chain2", b.name + "-chain3"}, nil)
			b.checkLocal(t)
			if packertest.FileSHA256(t, src) != sum {
				t.Error("the source disk changed")
			}
		})
	}
}

// TestAccChainingOpenStack: chromogenic-openstack in image mode from a Glance image of
// project A, importing into project B; and the same build interrupted in chain 2's import
// and in the builder.
func TestAccChainingOpenStack(t *testing.T) {
	accOnly(t)
	t.Parallel()
	p := connectProjects(t)
	// The tiny guest on an 8 GiB disk, uploaded as qcow2 (16 MiB): the builder's qcow2 upload
	// is as small, but an import with disk_format = "raw" streams 8 GiB, a long window to
	// interrupt it in.
	dir := t.TempDir()
	big := filepath.Join(dir, "big.raw")
	packertest.CopySparse(t, tiny(t), big)
	qcow := filepath.Join(dir, "big.qcow2")
	for _, c := range [][]string{{"truncate", "-s", "8G", big}, {"qemu-img", "convert", "-O", "qcow2", big, qcow}} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	src := openstacktest.UploadImage(t, p.a, fmt.Sprintf("chaining-source-%d", time.Now().UnixNano()), qcow, "qcow2")
	tpl := chains("chromogenic-openstack", openstackSource, openstackImport)
	sourceKept := func(t *testing.T) {
		t.Helper()
		if img, err := images.Get(t.Context(), p.a.Image, src.ID).Extract(); err != nil || img.Status != images.ImageStatusActive || img.Checksum != src.Checksum {
			t.Errorf("the source image changed: %v %v", img, err)
		}
	}
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keep=%t", keep), func(t *testing.T) {
			t.Parallel()
			b := newBuild(t, "openstack", keep, "source", src.ID, "clouds_file", p.clouds)
			p.watch(t, b.name)
			b.run(t, tpl)
			checkGlance(t, p.a, "A", b.name, []string{b.name + "-built"}, nil)
			checkGlance(t, p.b, "B", b.name, []string{b.name + "-chain2", b.name + "-chain3"}, nil)
			b.checkLocal(t)
			sourceKept(t)
		})
	}

	// SIGINT while chain 2's import uploads: its half image goes, the builder's image and
	// chain 1's files stay (rule 4), nothing is held. Chain 3, which Packer runs after the
	// interrupt all the same, writes and publishes nothing (see
	// TestAccChainingEC2/interrupt-import).
	t.Run("interrupt-import", func(t *testing.T) {
		t.Parallel()
		b := newBuild(t, "openstack-int-import", false, "source", src.ID, "clouds_file", p.clouds)
		p.watch(t, b.name)
		// Only chain 2's import streams 8 GiB: chain 3's runs after the interrupt with a
		// context nobody cancels (see above), and would hold packer for minutes.
		run := b.start(t, tpl, "chain2_format", "raw")
		chain2 := b.name + "-chain2"
		run.Until(t, chain2+" saving in project B", 5*time.Minute, func() bool {
			for _, img := range openstacktest.ListImages(t, p.b) {
				if img.Name == chain2 && (img.Status == images.ImageStatusSaving || img.Status == "uploading") {
					return true
				}
			}
			return false
		})
		time.Sleep(time.Second) // well inside the upload: 8 GiB take minutes here
		run.Interrupt(t, 2*time.Minute)
		t.Logf("packer's last lines:\n%s", lastLines(run.Output.String(), 8))
		checkGlance(t, p.a, "A", b.name, []string{b.name + "-built"}, nil)
		checkGlance(t, p.b, "B", b.name, nil, nil)
		if f := files(filepath.Join(b.out, "chain1")); len(f) != 1 {
			t.Errorf("chain 1's convert files: %v, want its qcow2", f)
		}
		if f := files(filepath.Join(b.out, "chain3")); len(f) != 0 {
			t.Errorf("chain 3 ran after the interrupt: files %v", f)
		}
		b.checkHeld(t)
		sourceKept(t)
	})

	// SIGINT while a provisioner runs in the builder (guest mounted, nothing published):
	// nothing of the build is in the cloud, the working copy is gone, nothing is held.
	t.Run("interrupt-builder", func(t *testing.T) {
		t.Parallel()
		b := newBuild(t, "openstack-int-builder", false, "source", src.ID, "clouds_file", p.clouds)
		p.watch(t, b.name)
		run := b.start(t, tpl, "hook", "echo CHAINING-HOOK-$((6*7)); sleep 600")
		run.Until(t, "the provisioner started", 5*time.Minute, func() bool { return strings.Contains(run.Output.String(), "CHAINING-HOOK-42") })
		if len(chroot.MountedUnder(b.out)) == 0 {
			run.Kill()
			t.Fatalf("the guest is not mounted under %s while the provisioner runs", b.out)
		}
		run.Interrupt(t, 2*time.Minute)
		checkGlance(t, p.a, "A", b.name, nil, nil)
		checkGlance(t, p.b, "B", b.name, nil, nil)
		if f := files(filepath.Join(b.out, "work")); len(f) != 0 {
			t.Errorf("the interrupted builder left %v", f)
		}
		b.checkHeld(t)
		sourceKept(t)
	})
}
