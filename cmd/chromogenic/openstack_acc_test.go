package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	oscloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/openstacktest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

// TestAccOpenStackPushCapture, on the all-in-one OpenStack: push uploads a qcow2 as a Glance
// image holding exactly its bytes; capture --image brings that image home equal to the
// source and leaves it as it was; capture --server snapshots a server booted from it,
// brings the snapshot home (a qcow2 read through Range requests) equal to the source, and
// deletes the snapshot it made while the server and the image stay.
func TestAccOpenStackPushCapture(t *testing.T) {
	testtier.Acceptance(t, "the all-in-one OpenStack cloud")
	t.Setenv("OS_CLIENT_CONFIG_FILE", openstacktest.CloudsFile(t))
	t.Setenv("OS_CLOUD", "")
	c := openstacktest.Connect(t, "aio-a")
	dir := t.TempDir()
	raw := filepath.Join(dir, "src.raw")
	makeRaw(t, raw, 24<<20)
	src := filepath.Join(dir, "src.qcow2")
	cli(t, 0, "convert", raw, src, "-O", "qcow2")

	name := "acc-cli-push-" + time.Now().Format("150405")
	stdout, stderr := cli(t, 0, "push", "--to", "openstack", "--os-cloud", "aio-a", src, "--name", name,
		"--property", "hw_disk_bus=virtio", "--tag", "cli", "--json")
	var res map[string]string
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v\n%s\n%s", err, stdout, stderr)
	}
	id := res["id"]
	t.Cleanup(func() { openstacktest.DeleteImage(t, c, id) })
	img, err := oscloud.GetImage(t.Context(), c.Image, id)
	if err != nil {
		t.Fatal(err)
	}
	if img.Status != images.ImageStatusActive || img.DiskFormat != "qcow2" || img.Name != name ||
		img.Properties["hw_disk_bus"] != "virtio" || len(img.Tags) != 1 || img.Tags[0] != "cli" {
		t.Errorf("pushed image %+v", img)
	}
	if !strings.Contains(stderr, "already qcow2") && !strings.Contains(stderr, "as it is") {
		t.Logf("push stderr (no as-is note):\n%s", stderr)
	}
	// The push's record beside IMAGE: the conversion's record carried over, the Glance image
	// as Glance reports it.
	prec, err := provenance.Read(src + ".push-openstack" + provenance.Suffix)
	if err != nil {
		t.Fatal(err)
	}
	if !hasOutput(prec, "openstack", "image", id) || prec.Outputs[0].Checksum == "" || prec.Outputs[0].Format != "qcow2" ||
		prec.Producer != "chromogenic push" || prec.Input == "" || res["provenance"] == "" {
		t.Errorf("push record: %+v", prec)
	}
	back := filepath.Join(dir, "glance.qcow2")
	openstacktest.DownloadImage(t, c, id, back)
	qemuImg(t, "compare", "-f", "raw", "-F", "qcow2", raw, back)

	home := filepath.Join(dir, "home.raw")
	out, stderr := cli(t, 0, "capture", "--from", "openstack", "--os-cloud", "aio-a", "--image", id, home)
	if strings.TrimSpace(out) != home {
		t.Errorf("capture printed %q", out)
	}
	if !strings.Contains(stderr, "range requests") {
		t.Errorf("the qcow2 was not read through Range requests:\n%s", stderr)
	}
	qemuImg(t, "compare", "-f", "raw", "-F", "raw", raw, home)
	// The capture's record: the image read, home's SHA-256 and block map.
	crec, _ := readRecord(t, home)
	if crec.Producer != "chromogenic capture" || crec.Source.Cloud != "openstack" || crec.Source.Image != id || crec.Source.ImageName != name ||
		crec.WorkingCopy == nil || crec.WorkingCopy.Path != home {
		t.Errorf("capture record: %+v", crec)
	}
	checkOutputs(t, crec)
	if after, err := oscloud.GetImage(t.Context(), c.Image, id); err != nil || after.Status != images.ImageStatusActive || after.Checksum != img.Checksum {
		t.Errorf("capture --image changed the image: %+v %v", after, err)
	}

	srv := openstacktest.BootServer(t, c, "acc-cli-capture", id)
	snapOut := filepath.Join(dir, "server.qcow2")
	stdout, stderr = cli(t, 0, "capture", "--from", "openstack", "--os-cloud", "aio-a", "--server", srv.ID,
		"--format", "qcow2", snapOut, "--json", "--timeout", "15m")
	var cres map[string]any
	if err := json.Unmarshal([]byte(stdout), &cres); err != nil {
		t.Fatalf("%v\n%s\n%s", err, stdout, stderr)
	}
	snap, _ := cres["snapshot_id"].(string)
	if snap == "" || cres["source"] != "server "+srv.ID || cres["snapshot_kept"] != nil {
		t.Fatalf("capture result %v\n%s", cres, stderr)
	}
	qemuImg(t, "check", "-f", "qcow2", snapOut)
	qemuImg(t, "compare", "-f", "raw", "-F", "qcow2", raw, snapOut)
	srec, _ := readRecord(t, snapOut)
	if srec.Source.Instance != srv.ID || !slices.Equal(srec.Source.Snapshots, []string{snap}) || len(srec.Outputs) != 1 || srec.Outputs[0].Format != "qcow2" {
		t.Errorf("capture --server record: %+v", srec)
	}
	checkOutputs(t, &provenance.Record{Outputs: srec.Outputs})
	if fi, err := os.Stat(snapOut); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: %v %v", snapOut, fi.Mode(), err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if s, err := images.Get(t.Context(), c.Image, snap).Extract(); !gophercloud.ResponseCodeIs(err, 404) {
		t.Errorf("the snapshot %s the capture made is still there: %+v %v", snap, s, err)
	}
	if s, err := servers.Get(t.Context(), c.Compute, srv.ID).Extract(); err != nil || s.Status != "ACTIVE" {
		t.Errorf("server after the capture: %+v %v", s, err)
	}
	if after, err := oscloud.GetImage(t.Context(), c.Image, id); err != nil || after.Status != images.ImageStatusActive {
		t.Errorf("the source image after capture --server: %+v %v", after, err)
	}

	// --keep-snapshot: the active snapshot stays (the test deletes it).
	stdout, stderr = cli(t, 0, "capture", "--from", "openstack", "--os-cloud", "aio-a", "--server", srv.ID,
		filepath.Join(dir, "kept.raw"), "--keep-snapshot", "--json", "--timeout", "15m")
	cres = nil
	if err := json.Unmarshal([]byte(stdout), &cres); err != nil {
		t.Fatalf("%v\n%s\n%s", err, stdout, stderr)
	}
	kept, _ := cres["snapshot_id"].(string)
	if kept != "" {
		t.Cleanup(func() { openstacktest.DeleteImage(t, c, kept) })
	}
	if s, err := oscloud.GetImage(t.Context(), c.Image, kept); err != nil || s.Status != images.ImageStatusActive || cres["snapshot_kept"] != true {
		t.Errorf("--keep-snapshot: result %v, snapshot %+v %v", cres, s, err)
	}
	qemuImg(t, "compare", "-f", "raw", "-F", "raw", raw, filepath.Join(dir, "kept.raw"))
}
