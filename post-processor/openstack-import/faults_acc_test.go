package openstackimport

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/faultproxy"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/openstacktest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

// The upload side of the fault tests: chromogenic-openstack-import pushes a small local disk
// (Packer's file builder hands it over, so no guest is mounted) to project B through
// internal/faultproxy, which sits in front of Keystone and, through the rewritten catalog, of
// Glance.

const faultTemplate = `
variable "source_path" { type = string }
variable "target" { type = string }
variable "clouds_file" { type = string }
variable "image_name" { type = string }
variable "visibility" {
  type    = string
  default = "private"
}
variable "members" {
  type    = list(string)
  default = []
}
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
    disk_format = "qcow2"
    visibility  = var.visibility
    members     = var.members
  }
}
`

func TestAccOpenStackImportFaults(t *testing.T) {
	testtier.Acceptance(t, "a packer build against the all-in-one OpenStack cloud")
	env := packertest.Setup(t)
	clouds := openstacktest.CloudsFile(t)
	b := openstacktest.Connect(t, "aio-b")
	data, err := os.ReadFile(clouds)
	if err != nil {
		t.Fatal(err)
	}
	ks := regexp.MustCompile(`auth_url:\s*(https?://[^/\s]+)`).FindSubmatch(data)
	if ks == nil {
		t.Fatalf("no auth_url in %s", clouds)
	}
	p, err := faultproxy.New(string(ks[1]))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	proxied := filepath.Join(t.TempDir(), "clouds.yaml")
	if err := p.RewriteClouds(clouds, proxied); err != nil {
		t.Fatal(err)
	}

	// A 32 MiB disk with data scattered through it.
	src := filepath.Join(t.TempDir(), "disk.raw")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(32 << 20)
	for i := int64(0); i < 32; i += 3 {
		f.WriteAt([]byte(strings.Repeat(fmt.Sprintf("block %d ", i), 50000)), i<<20)
	}
	f.Close()

	build := func(t *testing.T, name string, more ...string) *packertest.Result {
		dir := t.TempDir()
		return env.Build(t, dir, faultTemplate, 10*time.Minute, append([]string{"-var", "source_path=" + src,
			"-var", "target=" + filepath.Join(dir, "disk.raw"), "-var", "clouds_file=" + proxied,
			"-var", "image_name=" + name}, more...)...)
	}
	// images named name in project B; deleted, so that a failing test leaks nothing.
	left := func(t *testing.T, name string) []string {
		var out []string
		for _, img := range openstacktest.ListImages(t, b) {
			if img.Name == name {
				out = append(out, fmt.Sprintf("%s (%s)", img.ID, img.Status))
				openstacktest.DeleteImage(t, b, img.ID)
			}
		}
		return out
	}
	imagePath := regexp.MustCompile(`^/v2/images/[^/]+$`)
	uniq := func(s string) string { return fmt.Sprintf("acc-ppfault-%s-%d", s, time.Now().UnixNano()) }

	t.Run("retried-5xx", func(t *testing.T) {
		p.Reset()
		rules := []*faultproxy.Rule{
			{Name: "token-500", Service: "identity", Method: "POST", Path: regexp.MustCompile(`/auth/tokens$`), Status: 500, Times: 2},
			{Name: "status-503", Service: "image", Method: "GET", Path: imagePath, Status: 503, Times: 3},
		}
		p.Add(rules...)
		name := uniq("retry")
		res := build(t, name)
		if res.Err != nil {
			left(t, name)
			t.Fatalf("import with transient 5xx failed: %v\n%s", res.Err, res.Output)
		}
		for _, r := range rules {
			if r.Applied() != r.Times {
				t.Errorf("rule %s applied %d times, want %d", r.Name, r.Applied(), r.Times)
			}
		}
		var id string
		for _, img := range openstacktest.ListImages(t, b) {
			if img.Name == name {
				id = img.ID
				t.Cleanup(func() { openstacktest.DeleteImage(t, b, img.ID) })
			}
		}
		if id == "" {
			t.Fatalf("image %s not in project B:\n%s", name, res.Output)
		}
		got := filepath.Join(t.TempDir(), "got.qcow2")
		openstacktest.DownloadImage(t, b, id, got)
		if o, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", "qcow2", src, got).CombinedOutput(); err != nil {
			t.Errorf("imported image differs from the source: %v\n%s", err, o)
		}
	})

	t.Run("dropped-upload", func(t *testing.T) {
		p.Reset()
		rule := &faultproxy.Rule{Name: "cut-upload", Service: "image", Method: "PUT", Path: regexp.MustCompile(`/file$`), CutRequest: true, CutRequestAfter: 1 << 20}
		p.Add(rule)
		name := uniq("dropup")
		res := build(t, name)
		if res.Err == nil {
			t.Fatalf("import succeeded though the upload was cut:\n%s", res.Output)
		}
		if !strings.Contains(res.Output, "upload image data to") {
			t.Errorf("error does not say the upload failed:\n%s", res.Output)
		}
		if rule.Applied() != 1 {
			t.Errorf("cut rule applied %d times: a data upload must not be repeated", rule.Applied())
		}
		if l := left(t, name); len(l) > 0 {
			t.Errorf("half-made image left: %v", l)
		}
	})

	t.Run("create-500-after-forward", func(t *testing.T) {
		p.Reset()
		rule := &faultproxy.Rule{Name: "create-500", Service: "image", Method: "POST", Path: regexp.MustCompile(`^/v2/images$`), Status: 500, AfterForward: true}
		p.Add(rule)
		name := uniq("create")
		res := build(t, name)
		if res.Err == nil {
			t.Fatalf("import succeeded though the create failed:\n%s", res.Output)
		}
		if !strings.Contains(res.Output, fmt.Sprintf("create image %q", name)) {
			t.Errorf("error does not name the image:\n%s", res.Output)
		}
		if rule.Applied() != 1 {
			t.Errorf("the create was sent %d times: a POST must not be repeated", rule.Applied())
		}
		if l := left(t, name); len(l) > 0 {
			t.Errorf("image registered behind the 500 left: %v", l)
		}
	})

	t.Run("image-killed", func(t *testing.T) {
		p.Reset()
		rule := &faultproxy.Rule{Name: "killed", Service: "image", Method: "GET", Path: imagePath, Rewrite: map[string]any{"status": "killed"}}
		p.Add(rule)
		name := uniq("killed")
		res := build(t, name)
		if res.Err == nil {
			t.Fatalf("import succeeded though the image was killed:\n%s", res.Output)
		}
		if !regexp.MustCompile(`image [0-9a-f-]{36} \(` + name + `\) went to status killed`).MatchString(res.Output) {
			t.Errorf("error does not name the image and its status:\n%s", res.Output)
		}
		if l := left(t, name); len(l) > 0 {
			t.Errorf("killed image left: %v", l)
		}
	})
	// The upload is held 8 s before it reaches Glance: the image, asked shared with project A,
	// sits queued meanwhile. Project A must not see it until it is active; then it does.
	t.Run("shared-only-when-active", func(t *testing.T) {
		p.Reset()
		a := openstacktest.Connect(t, "aio-a")
		aProject := projectOf(t, a)
		rule := &faultproxy.Rule{Name: "hold-upload", Service: "image", Method: "PUT", Path: regexp.MustCompile(`/(file|stage)$`), Delay: 8 * time.Second}
		p.Add(rule)
		name := uniq("shared")
		stop := openstacktest.Watch(300*time.Millisecond, func() []string {
			var states []string
			found, _ := cloud.FindImages(context.Background(), b.Image, cloud.ImageFilter{Name: name})
			for _, img := range found {
				other := "hidden"
				if got, err := images.Get(context.Background(), a.Image, img.ID).Extract(); err == nil {
					other = "visible:" + string(got.Visibility)
				}
				states = append(states, fmt.Sprintf("%s/%s A:%s", img.Status, img.Visibility, other))
			}
			return states
		})
		res := build(t, name, "-var", "visibility=shared", "-var", fmt.Sprintf(`members=["%s"]`, aProject))
		states := stop()
		t.Logf("seen: %v", states)
		var id string
		for _, img := range openstacktest.ListImages(t, b) {
			if img.Name == name {
				id = img.ID
				t.Cleanup(func() { openstacktest.DeleteImage(t, b, img.ID) })
			}
		}
		if res.Err != nil {
			t.Fatalf("import failed: %v\n%s", res.Err, res.Output)
		}
		if rule.Applied() != 1 {
			t.Errorf("hold rule applied %d times", rule.Applied())
		}
		early := 0
		for _, st := range states {
			if strings.HasPrefix(st, "active/") {
				continue
			}
			early++
			if st != "queued/private A:hidden" && st != "saving/private A:hidden" {
				t.Errorf("before active: %s; want private and hidden from project A", st)
			}
		}
		if early == 0 {
			t.Errorf("never saw the image before it was active: %v", states)
		}
		got, err := images.Get(context.Background(), a.Image, id).Extract()
		if err != nil || got.Visibility != images.ImageVisibilityShared || got.Status != images.ImageStatusActive {
			t.Errorf("project A sees the finished image as %+v, %v; want active and shared", got, err)
		}
	})
}

// projectOf is the project ID of a cloud's token.
func projectOf(t *testing.T, c *cloud.Clients) string {
	t.Helper()
	r, ok := c.Provider.GetAuthResult().(tokens.CreateResult)
	if !ok {
		t.Fatalf("auth result %T", c.Provider.GetAuthResult())
	}
	p, err := r.ExtractProject()
	if err != nil || p == nil {
		t.Fatalf("project of the token: %v", err)
	}
	return p.ID
}
