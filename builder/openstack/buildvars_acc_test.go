package openstack

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/openstacktest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
)

//go:embed test-fixtures/buildvars-image.pkr.hcl
var buildVarsImageTemplate string

//go:embed test-fixtures/buildvars-snapshot.pkr.hcl
var buildVarsSnapshotTemplate string

//go:embed test-fixtures/snapshot-provision.pkr.hcl
var snapshotProvisionTemplate string

// withBuildVars puts commands that print every documented build variable in place of @PROV@
// (tag "prov") and @POST@ (tag "post").
func withBuildVars(t *testing.T, tpl string) (string, []string) {
	vars := packertest.DocBuildVars(t, "openstack")
	return strings.NewReplacer("@PROV@", packertest.BuildVarsEcho("prov", vars),
		"@POST@", packertest.BuildVarsEcho("post", vars)).Replace(tpl), vars
}

// checkVars compares the values printed under tag with want, for every documented variable.
func checkVars(t *testing.T, output, tag string, vars []string, want map[string]string) {
	t.Helper()
	got := packertest.BuildVarsPrinted(output, tag)
	for _, v := range vars {
		w, ok := want[v]
		if !ok {
			t.Errorf("build.%s is documented but this test does not check it", v)
			continue
		}
		if g, printed := got[v]; !printed || g != w {
			t.Errorf("%s: build.%s = %q (printed %v), want %q", tag, v, g, printed, w)
		}
	}
}

// testBuildVarsImageMode: in image mode every documented variable validates, and the
// provisioner and the post-processor see the right values; chromogenic-convert names its
// output with build.ImageID.
func testBuildVarsImageMode(t *testing.T, clouds string, src *images.Image, serverID string) {
	packertest.AccOnly(t)
	env := packertest.Setup(t)
	a := openstacktest.Connect(t, "aio-a")
	tpl, vars := withBuildVars(t, buildVarsImageTemplate)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	name := fmt.Sprintf("acc-vars-image-%d", time.Now().UnixNano())
	args := []string{"-var", "clouds_file=" + clouds, "-var", "instance_id=" + serverID,
		"-var", "image_name=" + name, "-var", "output_directory=" + out}
	if o, err := env.Validate(t, dir, tpl, args...); err != nil {
		t.Fatalf("packer validate: %v\n%s", err, o)
	}
	res := env.MustBuild(t, dir, tpl, 30*time.Minute, args...)
	made := imageNamed(t, a, name)
	if made == nil {
		t.Fatalf("image %s not in Glance after the build:\n%s", name, res.Output)
	}
	t.Cleanup(func() { openstacktest.DeleteImage(t, a, made.ID) })

	prov := packertest.BuildVarsPrinted(res.Output, "prov")
	snap := prov["SnapshotID"]
	if snap == "" || snap == made.ID || snap == src.ID {
		t.Fatalf("provisioner: build.SnapshotID = %q (new image %s, source %s)", snap, made.ID, src.ID)
	}
	if _, err := images.Get(t.Context(), a.Image, snap).Extract(); !gophercloud.ResponseCodeIs(err, 404) {
		t.Errorf("the intermediate snapshot %s (build.SnapshotID) is not gone: %v", snap, err)
	}
	dev := prov["Device"]
	if !strings.HasPrefix(dev, "/dev/loop") {
		t.Errorf("provisioner: build.Device = %q", dev)
	}
	want := map[string]string{
		"SourceImageID": src.ID, "SnapshotID": snap, "ImageID": "",
		"MountPath": filepath.Join(out, "mnt"), "Device": dev, "WorkingImage": filepath.Join(out, "vars.raw"),
	}
	checkVars(t, res.Output, "prov", vars, want)
	want["ImageID"] = made.ID // known once uploaded
	checkVars(t, res.Output, "post", vars, want)
	if _, err := os.Stat(filepath.Join(out, "export", "img-"+made.ID+".qcow2")); err != nil {
		t.Errorf("chromogenic-convert output named from build.ImageID: %v", err)
	}
}

// testBuildVarsSnapshotMode: in snapshot mode a shell-local provisioner runs before the
// snapshot (no snapshot, no mount yet) and the post-processor sees the snapshot as ImageID.
func testBuildVarsSnapshotMode(t *testing.T, clouds string, src *images.Image, serverID string) {
	packertest.AccOnly(t)
	env := packertest.Setup(t)
	a := openstacktest.Connect(t, "aio-a")
	tpl, vars := withBuildVars(t, buildVarsSnapshotTemplate)
	dir := t.TempDir()
	name := fmt.Sprintf("acc-vars-snap-%d", time.Now().UnixNano())
	args := []string{"-var", "clouds_file=" + clouds, "-var", "instance_id=" + serverID, "-var", "image_name=" + name}
	if o, err := env.Validate(t, dir, tpl, args...); err != nil {
		t.Fatalf("packer validate: %v\n%s", err, o)
	}
	res := env.MustBuild(t, dir, tpl, 20*time.Minute, args...)
	made := imageNamed(t, a, name)
	if made == nil {
		t.Fatalf("snapshot %s not in Glance after the build:\n%s", name, res.Output)
	}
	t.Cleanup(func() { openstacktest.DeleteImage(t, a, made.ID) })
	want := map[string]string{"SourceImageID": src.ID, "SnapshotID": "", "ImageID": "",
		"MountPath": "", "Device": "", "WorkingImage": ""}
	checkVars(t, res.Output, "prov", vars, want)
	want["SnapshotID"], want["ImageID"] = made.ID, made.ID
	checkVars(t, res.Output, "post", vars, want)
}

// testSnapshotModeRefusesProvisioners: in snapshot mode a provisioner that needs the guest
// fails the build at once with a clear message; no snapshot is made (nothing named like the
// build in Glance) and the server is untouched. The shell-local provisioner before it ran.
func testSnapshotModeRefusesProvisioners(t *testing.T, clouds, serverID string) {
	packertest.AccOnly(t)
	env := packertest.Setup(t)
	a := openstacktest.Connect(t, "aio-a")
	for _, tc := range []struct{ name, provisioner, tried string }{
		{"shell", `provisioner "shell" { inline = ["echo hi > /etc/motd"] }`, "(a provisioner tried to upload "},
		{"chromogenic-clean", `provisioner "chromogenic-clean" { operations = ["defaults"] }`, `(a provisioner tried to run "uname -s -m")`},
		{"file", `provisioner "file" {
    content     = "x"
    destination = "/etc/x"
  }`, "(a provisioner tried to upload /etc/x)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The subtest before this one may have left Nova finishing a snapshot of the
			// server (its task state then clears and "updated" moves): start from a server
			// with no task in progress, so a change seen afterwards is this build's.
			before := quiescentServer(t, a, serverID)
			dir := t.TempDir()
			name := fmt.Sprintf("acc-snap-prov-%d", time.Now().UnixNano())
			tpl := strings.ReplaceAll(snapshotProvisionTemplate, "@PROVISIONER@", tc.provisioner)
			args := []string{"-var", "clouds_file=" + clouds, "-var", "instance_id=" + serverID, "-var", "image_name=" + name}
			if o, err := env.Validate(t, dir, tpl, args...); err != nil {
				t.Fatalf("packer validate: %v\n%s", err, o)
			}
			start := time.Now()
			res := env.Build(t, dir, tpl, 4*time.Minute, args...)
			for _, img := range openstacktest.ListImages(t, a) {
				if img.Name == name {
					t.Errorf("left in Glance by a refused build: %s (%s, %s)", img.Name, img.ID, img.Status)
					openstacktest.DeleteImage(t, a, img.ID)
				}
			}
			if res.Err == nil {
				t.Fatalf("snapshot mode with a %s provisioner succeeded:\n%s", tc.name, res.Output)
			}
			if d := time.Since(start); d > 2*time.Minute {
				t.Errorf("the refused build took %s to fail", d.Round(time.Second))
			}
			msg := `chromogenic-openstack: mode = "snapshot" has no guest tree to provision`
			advice := `use mode = "image" to provision, or remove the provisioner`
			if !strings.Contains(res.Output, msg) || !strings.Contains(res.Output, tc.tried) || !strings.Contains(res.Output, advice) {
				t.Errorf("no clear error (want %q ... %q ... %q):\n%s", msg, tc.tried, advice, res.Output)
			}
			if !strings.Contains(res.Output, "LOCAL-PROVISIONER-RAN") {
				t.Errorf("the shell-local provisioner did not run:\n%s", res.Output)
			}
			if strings.Contains(res.Output, "Creating snapshot") {
				t.Errorf("a snapshot was started:\n%s", res.Output)
			}
			after, err := servers.Get(t.Context(), a.Compute, serverID).Extract()
			if err != nil {
				t.Fatal(err)
			}
			if after.Status != before.Status || after.Status != "ACTIVE" || !after.Updated.Equal(before.Updated) {
				t.Errorf("server changed: status %s -> %s, updated %s -> %s", before.Status, after.Status, before.Updated, after.Updated)
			}
		})
	}
}

// quiescentServer waits (up to 5 minutes) until the server has no task in progress and returns it.
func quiescentServer(t *testing.T, a *cloud.Clients, serverID string) *servers.Server {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		s, err := servers.Get(t.Context(), a.Compute, serverID).Extract()
		if err != nil {
			t.Fatal(err)
		}
		if s.TaskState == "" {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("server %s still has task %q after 5 minutes", serverID, s.TaskState)
		}
		time.Sleep(2 * time.Second)
	}
}

// imageNamed is the image of the project named name, nil if none; more than one fails.
func imageNamed(t *testing.T, c *cloud.Clients, name string) *images.Image {
	t.Helper()
	var found *images.Image
	for _, img := range openstacktest.ListImages(t, c) {
		if img.Name == name {
			if found != nil {
				t.Errorf("two images named %s: %s and %s", name, found.ID, img.ID)
			}
			im := img
			found = &im
		}
	}
	return found
}
