package openstack

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/faultproxy"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/openstacktest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

// The fault tests run the real packer binary against the all-in-one cloud through
// internal/faultproxy, which sits in front of Keystone and, through the rewritten catalog, in
// front of Glance and Nova. They use a 16 MiB guest (test/openstack-aio/tiny-image.py: an MBR
// program that halts, and an ext4 partition with a minimal tree) and the m1.tiny flavor, so a
// server costs no CPU and an image moves in a second: the faults are the subject, not the
// guest. They work in project B (aio-b), apart from the capture tests of project A.

const faultCloud = "aio-b"

const faultSnapshotTemplate = `
variable "clouds_file" { type = string }
variable "instance_id" { type = string }
variable "image_name" { type = string }
variable "state_timeout" {
  type    = string
  default = "10m"
}
source "chromogenic-openstack" "fault" {
  cloud         = "` + faultCloud + `"
  clouds_file   = var.clouds_file
  instance_id   = var.instance_id
  image_name    = var.image_name
  mode          = "snapshot"
  state_timeout = var.state_timeout
}
build { sources = ["source.chromogenic-openstack.fault"] }
`

const faultImageTemplate = `
variable "clouds_file" { type = string }
variable "instance_id" {
  type    = string
  default = ""
}
variable "source_image" {
  type    = string
  default = ""
}
variable "image_name" { type = string }
variable "output_directory" { type = string }
variable "marker" { type = string }
source "chromogenic-openstack" "fault" {
  cloud             = "` + faultCloud + `"
  clouds_file       = var.clouds_file
  instance_id       = var.instance_id
  source_image      = var.source_image
  image_name        = var.image_name
  image_disk_format = "qcow2"
  root_partition    = 1
  output_directory  = var.output_directory
  mount_path        = "${var.output_directory}/mnt"
}
build {
  sources = ["source.chromogenic-openstack.fault"]
  provisioner "file" {
    content     = var.marker
    destination = "/marker.txt"
  }
}
`

// faultEnv is what every fault test shares: one proxy, one tiny image, one tiny server.
type faultEnv struct {
	packer   *packertest.Env
	proxy    *faultproxy.Proxy
	clouds   string // clouds.yaml whose auth_url is the proxy's
	direct   *cloud.Clients
	image    *images.Image // the tiny image, the source of the image-mode tests
	serverID string
}

func TestAccOpenStackFaults(t *testing.T) {
	testtier.Acceptance(t, "a packer build against the all-in-one OpenStack cloud")
	start := time.Now()
	fe := setupFaults(t)
	t.Logf("setup (tiny image, server, proxy) took %s", time.Since(start).Round(time.Second))
	t.Run("retried-gets", fe.testRetriedGets)
	t.Run("nova-post-500", fe.testNovaPost500)
	t.Run("glance-create-500-after-forward", fe.testGlanceCreate500)
	t.Run("dropped-upload", fe.testDroppedUpload)
	t.Run("snapshot-error", fe.testSnapshotError)
	t.Run("wait-timeout", fe.testWaitTimeout)
	t.Run("interrupt-mid-download", fe.testInterruptMidDownload)
	t.Run("interrupt-mid-upload", fe.testInterruptMidUpload)
	t.Run("unknown-instance", fe.testUnknownInstance)
}

func setupFaults(t *testing.T) *faultEnv {
	fe := &faultEnv{packer: packertest.Setup(t)}
	clouds := openstacktest.CloudsFile(t)
	fe.direct = openstacktest.Connect(t, faultCloud)
	p, err := faultproxy.New(keystoneOf(t, clouds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	fe.proxy = p
	fe.clouds = filepath.Join(t.TempDir(), "clouds.yaml")
	if err := p.RewriteClouds(clouds, fe.clouds); err != nil {
		t.Fatal(err)
	}
	raw := testimages.Tiny(t, t.TempDir())
	fe.image = openstacktest.UploadImage(t, fe.direct, fmt.Sprintf("acc-fault-src-%d", time.Now().UnixNano()), raw, "raw")
	fe.serverID = bootTiny(t, fe.direct, fe.image.ID)
	return fe
}

// keystoneOf returns scheme://host:port of the first auth_url of a clouds.yaml.
func keystoneOf(t *testing.T, clouds string) string {
	data, err := os.ReadFile(clouds)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`auth_url:\s*(https?://[^/\s]+)`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("no auth_url in %s", clouds)
	}
	return string(m[1])
}

// bootTiny boots a server from the tiny image with flavor m1.tiny (its guest halts at once),
// waits until it is ACTIVE and deletes it when the test ends.
func bootTiny(t *testing.T, c *cloud.Clients, imageID string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	compute := *c.Compute
	compute.Microversion = "2.37"
	pages, err := flavors.ListDetail(&compute, nil).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, _ := flavors.ExtractFlavors(pages)
	fid := ""
	for _, f := range all {
		if f.Name == "m1.tiny" {
			fid = f.ID
		}
	}
	if fid == "" {
		t.Fatal("flavor m1.tiny not found")
	}
	srv, err := servers.Create(ctx, &compute, servers.CreateOpts{Name: fmt.Sprintf("acc-fault-%d", time.Now().UnixNano()),
		ImageRef: imageID, FlavorRef: fid, Networks: "none"}, nil).Extract()
	if err != nil {
		t.Fatalf("create server: %v", err)
	}
	t.Cleanup(func() {
		dctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		servers.Delete(dctx, &compute, srv.ID)
		for dctx.Err() == nil {
			if _, err := servers.Get(dctx, &compute, srv.ID).Extract(); gophercloud.ResponseCodeIs(err, 404) {
				return
			}
			time.Sleep(time.Second)
		}
	})
	if err := servers.WaitForStatus(ctx, &compute, srv.ID, "ACTIVE"); err != nil {
		t.Fatalf("server %s never became ACTIVE: %v", srv.ID, err)
	}
	return srv.ID
}

// leftovers lists the images of the test project that this build may have made: those with
// the given name, and snapshots of the test server. It deletes them, so a failing test does
// not leak them.
func (fe *faultEnv) leftovers(t *testing.T, name string) []string {
	t.Helper()
	var left []string
	for _, img := range openstacktest.ListImages(t, fe.direct) {
		if img.Name == name || img.Properties["instance_uuid"] == fe.serverID {
			left = append(left, fmt.Sprintf("%s %s (%s)", img.ID, img.Name, img.Status))
			openstacktest.DeleteImage(t, fe.direct, img.ID)
		}
	}
	return left
}

// assertNothingLeft checks the cloud (no image of this build, in any state) and the machine
// (no mount under the output directory, no loop device on the working copy, no lease).
func (fe *faultEnv) assertNothingLeft(t *testing.T, name, out string) {
	t.Helper()
	if left := fe.leftovers(t, name); len(left) > 0 {
		t.Errorf("images left behind: %v", left)
	}
	if out == "" {
		return
	}
	if m := chroot.MountedUnder(out); len(m) > 0 {
		t.Errorf("still mounted: %v", m)
		for i := len(m) - 1; i >= 0; i-- {
			syscall.Unmount(m[i], syscall.MNT_DETACH)
		}
	}
	files, _ := filepath.Glob(filepath.Join(out, "*"))
	for _, f := range files {
		if l := chroot.LoopsBackedBy(f); len(l) > 0 {
			t.Errorf("loop devices still backed by %s: %v", f, l)
		}
	}
	leases, _ := filepath.Glob(filepath.Join(chroot.LeaseDir, "*.json"))
	for _, l := range leases {
		data, _ := os.ReadFile(l)
		var lease struct{ Root string }
		if json.Unmarshal(data, &lease) == nil && strings.HasPrefix(lease.Root, out) {
			t.Errorf("lease left behind: %s for %s", l, lease.Root)
		}
	}
}

func (fe *faultEnv) imageMode(t *testing.T, name, out string, args ...string) *packertest.Result {
	dir := t.TempDir()
	return fe.packer.Build(t, dir, faultImageTemplate, 15*time.Minute, append([]string{
		"-var", "clouds_file=" + fe.clouds, "-var", "image_name=" + name,
		"-var", "output_directory=" + out, "-var", "marker=" + name}, args...)...)
}

func (fe *faultEnv) snapshotMode(t *testing.T, name string, args ...string) *packertest.Result {
	fe.waitServerIdle(t)
	dir := t.TempDir()
	return fe.packer.Build(t, dir, faultSnapshotTemplate, 15*time.Minute, append([]string{
		"-var", "clouds_file=" + fe.clouds, "-var", "image_name=" + name,
		"-var", "instance_id=" + fe.serverID}, args...)...)
}

// waitServerIdle waits until Nova has finished with the test server: a snapshot that an
// earlier subtest's build deleted while Nova still uploaded it keeps the server in
// task_state image_uploading for a while, and Nova refuses another createImage (409) until
// then.
func (fe *faultEnv) waitServerIdle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		state := "?"
		srv, err := servers.Get(context.Background(), fe.direct.Compute, fe.serverID).Extract()
		if err == nil {
			if srv.TaskState == "" {
				return
			}
			state = srv.TaskState
		}
		if time.Now().After(deadline) {
			t.Fatalf("server %s still busy after 3 minutes (task_state %s, %v)", fe.serverID, state, err)
		}
		time.Sleep(time.Second)
	}
}

// failure logs the lines of packer's output that say why the build failed.
func failure(t *testing.T, res string) {
	t.Helper()
	for _, l := range strings.Split(res, "\n") {
		if strings.Contains(l, "errored") || strings.Contains(l, "rror:") || strings.Contains(l, "Deleting") || strings.Contains(l, "retry") {
			t.Log(strings.TrimSpace(l))
		}
	}
}

func uniq(prefix string) string { return fmt.Sprintf("acc-fault-%s-%d", prefix, time.Now().UnixNano()) }

func (fe *faultEnv) notSource(q *faultproxy.Request) bool {
	return !strings.Contains(q.Path, fe.image.ID)
}

// testRetriedGets: Keystone, Nova and Glance answer 5xx to safe requests a few times each
// (the token, the server, the snapshot's status, the image data, the deletion of the
// intermediate snapshot); every one is retried and the image-mode capture succeeds, with the provisioned file in the new
// image and the intermediate snapshot gone.
func (fe *faultEnv) testRetriedGets(t *testing.T) {
	fe.proxy.Reset()
	t.Cleanup(fe.proxy.Reset)
	rules := []*faultproxy.Rule{
		{Name: "token-503", Service: "identity", Method: "POST", Path: regexp.MustCompile(`/auth/tokens$`), Status: 503, Times: 1},
		{Name: "server-500", Service: "compute", Method: "GET", Path: regexp.MustCompile(`/servers/` + fe.serverID + `$`), Status: 500, Times: 2},
		{Name: "image-503", Service: "image", Method: "GET", Path: regexp.MustCompile(`^/v2/images/[^/]+$`), Match: fe.notSource, Status: 503, Times: 3},
		{Name: "file-500", Service: "image", Method: "GET", Path: regexp.MustCompile(`/file$`), Status: 500, Times: 2},
		{Name: "delete-502", Service: "image", Method: "DELETE", Path: regexp.MustCompile(`^/v2/images/[^/]+$`), Status: 502, Times: 1},
	}
	fe.proxy.Add(rules...)
	name, out := uniq("retry"), filepath.Join(t.TempDir(), "out")
	start := time.Now()
	res := fe.imageMode(t, name, out, "-var", "instance_id="+fe.serverID)
	t.Logf("build took %s", time.Since(start).Round(time.Second))
	if res.Err != nil {
		fe.leftovers(t, name)
		t.Fatalf("build with transient 5xx failed: %v\n%s", res.Err, res.Output)
	}
	for _, r := range rules {
		if r.Applied() != r.Times {
			t.Errorf("rule %s applied %d times, want %d", r.Name, r.Applied(), r.Times)
		}
	}
	var retries []string
	for _, l := range strings.Split(res.Log, "\n") {
		if strings.Contains(l, "openstack: ") && strings.Contains(l, "; retry ") {
			retries = append(retries, l)
		}
	}
	t.Logf("the plugin logged %d retries:\n%s", len(retries), strings.Join(retries, "\n"))
	if len(retries) < 7 {
		t.Errorf("%d retries logged, want at least 7 (token, server x2, image x3, delete)", len(retries))
	}
	if n := fe.proxy.Count("image", "GET", regexp.MustCompile(`/file$`)); n < 3 {
		t.Errorf("the download was requested %d times: the 500s were not retried", n)
	}
	var made *images.Image
	for _, img := range openstacktest.ListImages(t, fe.direct) {
		if img.Name == name {
			im := img
			made = &im
			t.Cleanup(func() { openstacktest.DeleteImage(t, fe.direct, im.ID) })
		} else if img.Properties["instance_uuid"] == fe.serverID {
			t.Errorf("intermediate snapshot left: %s %s", img.ID, img.Name)
			openstacktest.DeleteImage(t, fe.direct, img.ID)
		}
	}
	if made == nil || made.Status != images.ImageStatusActive {
		t.Fatalf("new image %s not active: %+v\n%s", name, made, res.Output)
	}
	got := filepath.Join(t.TempDir(), "made.qcow2")
	openstacktest.DownloadImage(t, fe.direct, made.ID, got)
	if data := tinyFile(t, got, "/marker.txt"); data != name {
		t.Errorf("/marker.txt in the new image = %q, want %q", data, name)
	}
	fe.assertNothingLeft(t, "-", out)
}

// tinyFile reads a file of partition 1 of a tiny image (any format qemu-img reads).
func tinyFile(t *testing.T, image, path string) string {
	t.Helper()
	raw := image + ".raw"
	if out, err := exec.Command("qemu-img", "convert", "-O", "raw", image, raw).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v %s", err, out)
	}
	part := image + ".part"
	if out, err := exec.Command("dd", "if="+raw, "of="+part, "bs=1M", "skip=1", "status=none").CombinedOutput(); err != nil {
		t.Fatalf("dd: %v %s", err, out)
	}
	out, err := exec.Command("debugfs", "-R", "cat "+path, part).Output()
	if err != nil {
		t.Fatalf("debugfs cat %s: %v", path, err)
	}
	return string(out)
}

// testNovaPost500: Nova answers 500 to createImage (a POST: not repeated), once before acting
// (snapshot mode) and once after it registered the snapshot (image mode). The build fails at
// once, naming the server and the call; the snapshot made behind the error is found and
// deleted.
func (fe *faultEnv) testNovaPost500(t *testing.T) {
	for _, after := range []bool{false, true} {
		t.Run(fmt.Sprintf("after-forward=%v", after), func(t *testing.T) {
			fe.proxy.Reset()
			t.Cleanup(fe.proxy.Reset)
			rule := &faultproxy.Rule{Name: "action-500", Service: "compute", Method: "POST", Path: regexp.MustCompile(`/servers/` + fe.serverID + `/action$`), Status: 500, AfterForward: after}
			fe.proxy.Add(rule)
			name, out := uniq("novapost"), filepath.Join(t.TempDir(), "out")
			var res *packertest.Result
			if after {
				res = fe.imageMode(t, name, out, "-var", "instance_id="+fe.serverID)
			} else {
				res = fe.snapshotMode(t, name)
			}
			if res.Err == nil {
				t.Fatalf("build succeeded though createImage failed:\n%s", res.Output)
			}
			failure(t, res.Output)
			if !strings.Contains(res.Output, "snapshot server "+fe.serverID) || !strings.Contains(res.Output, "got 500") {
				t.Errorf("error does not say which call failed and how:\n%s", res.Output)
			}
			if rule.Applied() != 1 {
				t.Errorf("createImage was sent %d times; a POST must not be repeated", rule.Applied())
			}
			if after && !strings.Contains(res.Output, "registered although the request failed") {
				t.Errorf("no word of the snapshot Nova made behind the 500 being deleted:\n%s", res.Output)
			}
			waitGone(t, fe, "")
			fe.assertNothingLeft(t, name, out)
		})
	}
}

// testGlanceCreate500: Glance registers the new image but the client is told 500 (the answer
// is replaced after forwarding). The image's ID was chosen by the client, so the build deletes
// it, and fails with an error naming the image.
func (fe *faultEnv) testGlanceCreate500(t *testing.T) {
	fe.proxy.Reset()
	t.Cleanup(fe.proxy.Reset)
	rule := &faultproxy.Rule{Name: "create-500", Service: "image", Method: "POST", Path: regexp.MustCompile(`^/v2/images$`), Status: 500, AfterForward: true}
	fe.proxy.Add(rule)
	name, out := uniq("create"), filepath.Join(t.TempDir(), "out")
	res := fe.imageMode(t, name, out, "-var", "source_image="+fe.image.ID)
	if res.Err == nil {
		t.Fatalf("build succeeded though the image create failed:\n%s", res.Output)
	}
	failure(t, res.Output)
	if !strings.Contains(res.Output, fmt.Sprintf("create image %q", name)) {
		t.Errorf("error does not name the image:\n%s", res.Output)
	}
	if rule.Applied() != 1 {
		t.Errorf("the create was sent %d times; a POST must not be repeated", rule.Applied())
	}
	if n := fe.proxy.Count("image", "DELETE", regexp.MustCompile(`^/v2/images/[^/]+$`)); n == 0 {
		t.Errorf("the image registered behind the 500 was not deleted")
	}
	fe.assertNothingLeft(t, name, out)
	fe.assertSourceUntouched(t)
}

// testDroppedUpload: the connection is cut after 256 KiB of the image data upload. The build
// fails with an error naming the image, deletes the half-made image and releases the guest.
func (fe *faultEnv) testDroppedUpload(t *testing.T) {
	fe.proxy.Reset()
	t.Cleanup(fe.proxy.Reset)
	rule := &faultproxy.Rule{Name: "cut-upload", Service: "image", Method: "PUT", Path: regexp.MustCompile(`/file$`), CutRequest: true, CutRequestAfter: 256 << 10}
	fe.proxy.Add(rule)
	name, out := uniq("dropup"), filepath.Join(t.TempDir(), "out")
	res := fe.imageMode(t, name, out, "-var", "source_image="+fe.image.ID)
	if res.Err == nil {
		t.Fatalf("build succeeded though the upload was cut:\n%s", res.Output)
	}
	failure(t, res.Output)
	if rule.Applied() != 1 {
		t.Errorf("cut rule applied %d times (a data upload must not be repeated)", rule.Applied())
	}
	if !strings.Contains(res.Output, "upload image data to") {
		t.Errorf("error does not say the upload failed:\n%s", res.Output)
	}
	dropped := false
	for _, e := range fe.proxy.Log() {
		if e.Method == "PUT" && e.Rule == "cut-upload" && e.Status == 0 {
			dropped = true
		}
	}
	if !dropped {
		t.Errorf("the proxy did not drop the upload connection: %+v", fe.proxy.Log())
	}
	fe.assertNothingLeft(t, name, out)
	fe.assertSourceUntouched(t)
}

// testSnapshotError: the snapshot reports status "error" (a status Glance images do not
// normally have: anything but the known in-progress states is a failure). The build fails
// naming the snapshot, and deletes it.
func (fe *faultEnv) testSnapshotError(t *testing.T) {
	fe.proxy.Reset()
	t.Cleanup(fe.proxy.Reset)
	rule := &faultproxy.Rule{Name: "status-error", Service: "image", Method: "GET", Path: regexp.MustCompile(`^/v2/images/[^/]+$`), Match: fe.notSource, Rewrite: map[string]any{"status": "error"}}
	fe.proxy.Add(rule)
	name := uniq("snaperr")
	res := fe.snapshotMode(t, name)
	if res.Err == nil {
		t.Fatalf("build succeeded though the snapshot is in error:\n%s", res.Output)
	}
	failure(t, res.Output)
	if !regexp.MustCompile(`image [0-9a-f-]{36} \(` + name + `\) went to status error`).MatchString(res.Output) {
		t.Errorf("error does not name the snapshot and its status:\n%s", res.Output)
	}
	if rule.Applied() == 0 {
		t.Errorf("status never rewritten")
	}
	waitGone(t, fe, name)
	fe.assertNothingLeft(t, name, "")
}

// waitGone waits a little for an image deleted while Nova still wrote it to disappear (name
// "": any snapshot of the test server).
func waitGone(t *testing.T, fe *faultEnv, name string) {
	for i := 0; i < 20; i++ {
		found := false
		for _, img := range openstacktest.ListImages(t, fe.direct) {
			if img.Name == name || (name == "" && img.Properties["instance_uuid"] == fe.serverID) {
				found = true
			}
		}
		if !found {
			return
		}
		time.Sleep(time.Second)
	}
}

// testWaitTimeout: the snapshot stays "saving" for ever; with state_timeout = 15s the build
// gives up with an error naming the timeout and the snapshot, and deletes the snapshot.
func (fe *faultEnv) testWaitTimeout(t *testing.T) {
	fe.proxy.Reset()
	t.Cleanup(fe.proxy.Reset)
	rule := &faultproxy.Rule{Name: "keep-saving", Service: "image", Method: "GET", Path: regexp.MustCompile(`^/v2/images/[^/]+$`), Match: fe.notSource, Rewrite: map[string]any{"status": "saving"}}
	fe.proxy.Add(rule)
	name := uniq("timeout")
	start := time.Now()
	res := fe.snapshotMode(t, name, "-var", "state_timeout=15s")
	took := time.Since(start)
	if res.Err == nil {
		t.Fatalf("build succeeded though the snapshot never became active:\n%s", res.Output)
	}
	failure(t, res.Output)
	if !strings.Contains(res.Output, "state_timeout") || !strings.Contains(res.Output, "saving") {
		t.Errorf("error does not name state_timeout and the status it waited in:\n%s", res.Output)
	}
	if took > 3*time.Minute {
		t.Errorf("the build took %s with state_timeout = 15s", took)
	}
	waitGone(t, fe, name)
	fe.assertNothingLeft(t, name, "")
}

// testInterruptMidDownload: image mode from the server, the download throttled to 32 KiB/s;
// Ctrl-C (SIGINT to packer's process group) once the download runs. Packer exits, nothing is
// mounted, no loop device or lease is left, the intermediate snapshot is deleted, and the
// source image and the server are untouched.
func (fe *faultEnv) testInterruptMidDownload(t *testing.T) {
	fe.proxy.Reset()
	t.Cleanup(fe.proxy.Reset)
	fe.proxy.Add(&faultproxy.Rule{Name: "slow-download", Service: "image", Method: "GET", Path: regexp.MustCompile(`/file$`), Throttle: 32 << 10})
	name, out := uniq("sigint"), filepath.Join(t.TempDir(), "out")
	fe.waitServerIdle(t)
	dir := t.TempDir()
	run := fe.packer.Start(t, dir, faultImageTemplate, "-var", "clouds_file="+fe.clouds,
		"-var", "image_name="+name, "-var", "output_directory="+out, "-var", "marker=x",
		"-var", "instance_id="+fe.serverID)
	output := run.Output
	run.Until(t, "the download started", 5*time.Minute, func() bool { return strings.Contains(output.String(), "Downloading image") },
		func() { fe.leftovers(t, name) })
	time.Sleep(3 * time.Second)
	run.Interrupt(t, 2*time.Minute)
	failure(t, output.String())
	if strings.Contains(output.String(), "Finding the guest's root filesystem") {
		t.Errorf("the download finished before the interrupt: the test proved nothing")
	}
	if !strings.Contains(output.String(), "Deleting snapshot") {
		t.Errorf("no word of the intermediate snapshot being deleted:\n%s", output)
	}
	fe.assertNothingLeft(t, name, out)
	fe.assertSourceUntouched(t)
	srv, err := servers.Get(context.Background(), fe.direct.Compute, fe.serverID).Extract()
	if err != nil || srv.Status != "ACTIVE" {
		t.Errorf("server after the interrupted build: %v %v", srv, err)
	}
}

// testInterruptMidUpload: image mode from the tiny image; the proxy holds the upload of the
// working copy (PUT .../file) for 90 s before passing it on, so the client is in the middle
// of sending the data (the image created, queued) when Ctrl-C comes (SIGINT to packer's
// process group). Packer exits non-zero within a minute; the image being uploaded is deleted
// (no image of the build in any status), the output directory with the working copy is
// removed, and nothing is mounted or attached. (Glance's own `saving` state under an
// interrupt is what post-processor/openstack-import's TestAccOpenStackImportInterrupt
// covers: this tiny image uploads in well under a second once let through.)
func (fe *faultEnv) testInterruptMidUpload(t *testing.T) {
	fe.proxy.Reset()
	t.Cleanup(fe.proxy.Reset)
	fe.proxy.Add(&faultproxy.Rule{Name: "hold-upload", Service: "image", Method: "PUT", Path: regexp.MustCompile(`/file$`), Delay: 90 * time.Second})
	name, out := uniq("sigint-up"), filepath.Join(t.TempDir(), "out")
	dir := t.TempDir()
	run := fe.packer.Start(t, dir, faultImageTemplate, "-var", "clouds_file="+fe.clouds,
		"-var", "image_name="+name, "-var", "output_directory="+out, "-var", "marker=x",
		"-var", "source_image="+fe.image.ID)
	output := run.Output
	run.Until(t, "the upload started", 5*time.Minute, func() bool {
		if !strings.Contains(output.String(), "Uploading the working copy") {
			return false
		}
		for _, img := range openstacktest.ListImages(t, fe.direct) {
			if img.Name == name && img.Status == images.ImageStatusQueued {
				return true
			}
		}
		return false
	}, func() { fe.leftovers(t, name) })
	time.Sleep(2 * time.Second)
	run.Interrupt(t, time.Minute)
	failure(t, output.String())
	if strings.Contains(output.String(), "is active") {
		t.Errorf("the upload finished before the interrupt: the test proved nothing")
	}
	fe.assertNothingLeft(t, name, out)
	if ents, err := os.ReadDir(out); err == nil && len(ents) > 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("left in the output directory: %v", names)
	}
	fe.assertSourceUntouched(t)
}

func (fe *faultEnv) assertSourceUntouched(t *testing.T) {
	t.Helper()
	again, err := cloud.GetImage(context.Background(), fe.direct.Image, fe.image.ID)
	if err != nil || again.Status != images.ImageStatusActive || again.Checksum != fe.image.Checksum || again.Name != fe.image.Name {
		t.Errorf("source image changed: %+v %v", again, err)
	}
}

// testUnknownInstance: a server that does not exist fails the build before anything is made,
// with an error naming the field and the value; the 404 is not retried.
func (fe *faultEnv) testUnknownInstance(t *testing.T) {
	fe.proxy.Reset()
	t.Cleanup(fe.proxy.Reset)
	missing := "00000000-0000-4000-8000-" + fmt.Sprintf("%012d", time.Now().UnixNano()%1e12)
	name := uniq("unknown")
	res := fe.snapshotMode(t, name, "-var", "instance_id="+missing)
	if res.Err == nil {
		t.Fatalf("build of an unknown server succeeded:\n%s", res.Output)
	}
	failure(t, res.Output)
	if !strings.Contains(res.Output, "instance_id: server "+missing+": no such server") {
		t.Errorf("error does not name instance_id and the value:\n%s", res.Output)
	}
	if n := fe.proxy.Count("compute", "GET", regexp.MustCompile(`/servers/`+missing+`$`)); n != 1 {
		t.Errorf("the server was looked up %d times; a 404 must not be retried", n)
	}
	fe.assertNothingLeft(t, name, "")
}
