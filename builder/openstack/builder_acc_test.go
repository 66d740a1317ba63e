package openstack

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/openstacktest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

//go:embed test-fixtures/image-mode.pkr.hcl
var imageModeTemplate string

//go:embed test-fixtures/snapshot-mode.pkr.hcl
var snapshotModeTemplate string

// sampleServer uploads the sample Debian image to project A and boots a server from it.
func sampleServer(t *testing.T) (string, *images.Image, string) {
	t.Helper()
	clouds := openstacktest.CloudsFile(t)
	a := openstacktest.Connect(t, "aio-a")
	qcow := filepath.Join(t.TempDir(), "sample.qcow2")
	if out, err := exec.Command("qemu-img", "convert", "-O", "qcow2", testimages.Sample(t), qcow).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v %s", err, out)
	}
	name := fmt.Sprintf("acc-src-%d", time.Now().UnixNano())
	img := openstacktest.UploadImage(t, a, name, qcow, "qcow2")
	srv := openstacktest.BootServer(t, a, name, img.ID)
	return clouds, img, srv.ID
}

// TestAccOpenStack boots one server from the sample Debian image in the all-in-one cloud and
// captures it in each mode with the real packer binary.
func TestAccOpenStack(t *testing.T) {
	testtier.Acceptance(t, "a packer build against the all-in-one OpenStack cloud")
	packertest.Setup(t)
	clouds, src, serverID := sampleServer(t)
	outer := t
	booted := func() {}
	t.Run("image-mode", func(t *testing.T) { booted = testImageMode(t, outer, clouds, src, serverID) })
	t.Run("snapshot-mode", func(t *testing.T) { testSnapshotMode(t, clouds, serverID) })
	t.Run("failure-cleans-up", func(t *testing.T) { testFailureCleansUp(t, clouds, serverID) })
	t.Run("snapshot-mode-refuses-provisioners", func(t *testing.T) { testSnapshotModeRefusesProvisioners(t, clouds, serverID) })
	t.Run("build-vars-image-mode", func(t *testing.T) { testBuildVarsImageMode(t, clouds, src, serverID) })
	t.Run("build-vars-snapshot-mode", func(t *testing.T) { testBuildVarsSnapshotMode(t, clouds, src, serverID) })
	booted()
}

// testImageMode captures a running server: Nova snapshot, the data streamed home, a shell
// provisioner in the chroot, and a new raw image uploaded. The new image holds the
// provisioner's file and lacks the removed ones, carries the source's properties, is private,
// and the intermediate snapshot is gone. The new image boots in Nova to a login prompt: the
// boot runs in the background on outer (the other subtests go on meanwhile), and the returned
// function waits for it and reports to outer, which also deletes the new image at its end.
func testImageMode(t *testing.T, outer testing.TB, clouds string, src *images.Image, serverID string) (booted func()) {
	booted = func() {}
	env := packertest.Setup(t)
	a := openstacktest.Connect(t, "aio-a")
	dir := t.TempDir()
	name := fmt.Sprintf("acc-image-%d", time.Now().UnixNano())
	marker := fmt.Sprintf("marker-%d", time.Now().UnixNano())
	res := env.MustBuild(t, dir, imageModeTemplate, 30*time.Minute,
		"-var", "clouds_file="+clouds, "-var", "instance_id="+serverID, "-var", "image_name="+name,
		"-var", "output_directory="+filepath.Join(dir, "out"), "-var", "marker="+marker)
	var made *images.Image
	var snapshots []string
	for _, img := range openstacktest.ListImages(t, a) {
		if img.Name == name {
			im := img
			made = &im
		}
		if strings.HasPrefix(img.Name, "chromogenic-") {
			snapshots = append(snapshots, img.Name)
		}
	}
	if made == nil {
		t.Fatalf("image %s not in Glance after the build:\n%s", name, res.Output)
	}
	outer.Cleanup(func() { openstacktest.DeleteImage(outer, a, made.ID) })
	booted = openstacktest.GoBootToLogin(outer, a, name+"-boot", made.ID, openstacktest.BootTimeout)
	if len(snapshots) > 0 {
		t.Errorf("intermediate snapshots left behind: %v", snapshots)
	}
	if made.Status != images.ImageStatusActive || made.Visibility != images.ImageVisibilityPrivate || made.DiskFormat != "raw" {
		t.Errorf("new image: status %s visibility %s format %s", made.Status, made.Visibility, made.DiskFormat)
	}
	if made.Properties["os_distro"] != "debian" || made.Properties["chromogenic_test"] != "yes" {
		t.Errorf("properties not carried/added: %v", made.Properties)
	}
	if len(made.Tags) != 1 || made.Tags[0] != "chromogenic-acc" {
		t.Errorf("tags %v", made.Tags)
	}
	raw := filepath.Join(dir, "made.raw")
	openstacktest.DownloadImage(t, a, made.ID, raw)
	got := packertest.GuestFiles(t, raw, "/root/openstack-acc-marker", "/root/.bash_history", "/etc/machine-id", "/etc/hostname")
	if string(got["/root/openstack-acc-marker"]) != marker+"\n" {
		t.Errorf("provisioned file in the new image = %q", got["/root/openstack-acc-marker"])
	}
	if _, ok := got["/root/.bash_history"]; ok {
		t.Errorf("chromogenic-clean did not remove /root/.bash_history from the new image")
	}
	if b, ok := got["/etc/machine-id"]; !ok || len(b) != 0 {
		t.Errorf("chromogenic-clean did not empty /etc/machine-id: %q", b)
	}
	// chromogenic-convert exported the working copy too: identical to what was uploaded.
	vmdk := filepath.Join(dir, "out", "export", "image.vmdk")
	if o, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", "vmdk", raw, vmdk).CombinedOutput(); err != nil {
		t.Errorf("exported VMDK differs from the uploaded image: %v\n%s", err, o)
	}
	if _, ok := got["/etc/hostname"]; !ok {
		t.Errorf("neighbour /etc/hostname missing from the new image")
	}
	// The source image is untouched.
	if again, err := openstackGet(t, src.ID); err != nil || again.Checksum != src.Checksum || again.Status != images.ImageStatusActive {
		t.Errorf("source image changed: %v %v", again, err)
	}
	checkProvenance(t, filepath.Join(dir, "out"), serverID, src.ID, made.ID, vmdk)
	return booted
}

// checkProvenance checks the builder's record beside the working copy (the server, its image,
// the snapshot, the uploaded image; the block map against the working copy; chromogenic-clean's
// operations and report digest) and chromogenic-convert's (carried over from the builder's,
// named with its SHA-256; the VMDK's SHA-256 recomputed).
func checkProvenance(t *testing.T, out, serverID, srcID, madeID, vmdk string) {
	t.Helper()
	working := filepath.Join(out, "image.raw")
	wrec := provenance.SidecarPath(working)
	r, err := provenance.Read(wrec)
	if err != nil {
		t.Fatalf("builder's record: %v", err)
	}
	s := r.Source
	if r.Producer != "chromogenic-openstack" || s.Cloud != "openstack" || s.Instance != serverID || s.Image != srcID ||
		len(s.Snapshots) != 1 || s.Snapshots[0] == "" || s.Endpoint != "clouds.yaml:aio-a" {
		t.Errorf("builder's record: producer %s, source %+v; want server %s, image %s, a snapshot", r.Producer, s, serverID, srcID)
	}
	if len(r.Outputs) != 1 || r.Outputs[0].ID != madeID || r.Outputs[0].Kind != "image" || r.Outputs[0].Format != "raw" {
		t.Errorf("builder's record: outputs %+v, want image %s", r.Outputs, madeID)
	}
	if r.WorkingCopy == nil {
		t.Fatal("builder's record: no block map")
	}
	if err := r.WorkingCopy.Verify(context.Background(), working, nil); err != nil {
		t.Errorf("builder's record: %v", err)
	}
	report, _ := os.ReadFile(filepath.Join(out, "clean-report.json"))
	sum := sha256.Sum256(report)
	if r.Clean == nil || !slices.Contains(r.Clean.Operations, "machine-id") || r.Clean.ReportSHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("builder's record: clean %+v, want machine-id and report sha256 %x", r.Clean, sum)
	}
	wsum, _, _ := provenance.FileSHA256(wrec)
	c, err := provenance.Read(provenance.SidecarPath(vmdk))
	if err != nil {
		t.Fatalf("convert's record: %v", err)
	}
	if c.Input != wrec || c.InputSHA256 != wsum || c.Source.Instance != serverID || len(c.Outputs) != 1 {
		t.Errorf("convert's record: %+v, want input %s (%s)", c, wrec, wsum)
	}
	for _, o := range c.Outputs {
		if got, size, err := provenance.FileSHA256(o.Path); err != nil || got != o.SHA256 || size != o.Size || o.Path != vmdk {
			t.Errorf("output %s: sha256 %s, %d bytes (%v); the record says %s, %d bytes", o.Path, got, size, err, o.SHA256, o.Size)
		}
	}
}

// testSnapshotMode only snapshots the server and leaves it as the artifact, with its
// provenance record in output_directory (checkSnapshotProvenance).
func testSnapshotMode(t *testing.T, clouds, serverID string) {
	env := packertest.Setup(t)
	a := openstacktest.Connect(t, "aio-a")
	dir := t.TempDir()
	name := fmt.Sprintf("acc-snap-%d", time.Now().UnixNano())
	out := filepath.Join(dir, "out")
	res := env.MustBuild(t, dir, snapshotModeTemplate, 20*time.Minute,
		"-var", "clouds_file="+clouds, "-var", "instance_id="+serverID, "-var", "image_name="+name,
		"-var", "output_directory="+out)
	found := false
	for _, img := range openstacktest.ListImages(t, a) {
		if img.Name == name {
			found = true
			checkSnapshotProvenance(t, out, serverID, &img)
			t.Cleanup(func() { openstacktest.DeleteImage(t, a, img.ID) })
			if img.Status != images.ImageStatusActive || img.Visibility != images.ImageVisibilityPrivate || img.SizeBytes == 0 {
				t.Errorf("snapshot: status %s visibility %s size %d", img.Status, img.Visibility, img.SizeBytes)
			}
			if len(img.Tags) != 1 || img.Tags[0] != "chromogenic-acc" {
				t.Errorf("tags %v", img.Tags)
			}
		}
	}
	if !found {
		t.Fatalf("snapshot %s not in Glance:\n%s", name, res.Output)
	}
}

// checkSnapshotProvenance checks snapshot mode's record of the snapshot img made: the only
// file in out, named after the image; the server and the snapshot as the source; the image
// as Glance reports it now (ID, disk format, size, multihash) as the output; no block map.
func checkSnapshotProvenance(t *testing.T, out, serverID string, img *images.Image) {
	t.Helper()
	path := filepath.Join(out, "openstack-image-"+img.ID+provenance.Suffix)
	if ents, _ := os.ReadDir(out); len(ents) != 1 || ents[0].Name() != filepath.Base(path) {
		t.Errorf("output directory %s holds %v, want only %s", out, ents, filepath.Base(path))
	}
	r, err := provenance.Read(path)
	if err != nil {
		t.Fatalf("snapshot record: %v", err)
	}
	s := r.Source
	if r.Producer != "chromogenic-openstack" || s.Cloud != "openstack" || s.Instance != serverID || s.Image == "" ||
		!slices.Equal(s.Snapshots, []string{img.ID}) || s.Endpoint != "clouds.yaml:aio-a" {
		t.Errorf("snapshot record: producer %s, source %+v; want server %s, snapshot %s", r.Producer, s, serverID, img.ID)
	}
	algo, _ := img.Properties["os_hash_algo"].(string)
	value, _ := img.Properties["os_hash_value"].(string)
	if len(r.Outputs) != 1 {
		t.Fatalf("snapshot record: outputs %+v", r.Outputs)
	}
	o := r.Outputs[0]
	if o.ID != img.ID || o.Kind != "image" || o.Cloud != "openstack" || o.Region != "aio-a" || o.Format != img.DiskFormat ||
		o.Size != img.SizeBytes || algo == "" || o.Checksum != algo+":"+value {
		t.Errorf("snapshot record: output %+v; Glance says %s, %s, %d bytes, %s:%s", o, img.ID, img.DiskFormat, img.SizeBytes, algo, value)
	}
	if r.WorkingCopy != nil || len(r.OtherDisks) > 0 || len(r.Dirty) > 0 {
		t.Errorf("snapshot record: a block map, with no working copy: %+v", r)
	}
}

// testFailureCleansUp: a build that fails after the snapshot leaves no snapshot and no
// half-made image behind.
func testFailureCleansUp(t *testing.T, clouds, serverID string) {
	env := packertest.Setup(t)
	a := openstacktest.Connect(t, "aio-a")
	dir := t.TempDir()
	name := fmt.Sprintf("acc-fail-%d", time.Now().UnixNano())
	failing := strings.Replace(imageModeTemplate, `"echo history > /root/.bash_history"`, `"exit 7"`, 1)
	res := env.Build(t, dir, failing, 20*time.Minute,
		"-var", "clouds_file="+clouds, "-var", "instance_id="+serverID, "-var", "image_name="+name,
		"-var", "output_directory="+filepath.Join(dir, "out"), "-var", "marker=x")
	if res.Err == nil {
		t.Fatalf("build with a failing provisioner succeeded:\n%s", res.Output)
	}
	for _, img := range openstacktest.ListImages(t, a) {
		if img.Name == name || strings.HasPrefix(img.Name, "chromogenic-") {
			t.Errorf("left behind after a failed build: %s (%s, %s)", img.Name, img.ID, img.Status)
			openstacktest.DeleteImage(t, a, img.ID)
		}
	}
}

func openstackGet(t *testing.T, id string) (*images.Image, error) {
	a := openstacktest.Connect(t, "aio-a")
	return images.Get(t.Context(), a.Image, id).Extract()
}
