package ec2image

import (
	_ "embed"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

//go:embed test-fixtures/lookup.pkr.hcl
var lookupTemplate string

func isolate(t *testing.T, srv *ec2emu.Server) {
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretAccessKey)
	for _, k := range []string{"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
}

// seed adds three matching images of different ages (the middle one newest), one without the
// tag, and one of another owner.
func seed(t *testing.T, srv *ec2emu.Server) (newest string) {
	t.Helper()
	now := time.Now()
	add := func(im ec2emu.Image) string {
		id, err := srv.AddImage(im)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	yes := map[string]string{"chromogenic": "yes"}
	add(ec2emu.Image{Name: "debian-12-a", CreationDate: now.Add(-48 * time.Hour), Tags: yes})
	newest = add(ec2emu.Image{Name: "debian-12-b", CreationDate: now.Add(-time.Hour), Tags: yes})
	add(ec2emu.Image{Name: "debian-12-c", CreationDate: now.Add(-24 * time.Hour), Tags: yes})
	add(ec2emu.Image{Name: "debian-12-untagged", CreationDate: now})
	add(ec2emu.Image{Name: "debian-12-other", CreationDate: now, Tags: yes, OwnerID: "999999999999", Public: true})
	return newest
}

func TestConfigureRequiresOwnersAndFilters(t *testing.T) {
	var d Datasource
	err := d.Configure(map[string]interface{}{"region": "us-east-1"})
	if err == nil || !strings.Contains(err.Error(), "owners is required") || !strings.Contains(err.Error(), "filters:") {
		t.Fatalf("err = %v", err)
	}
}

func TestExecute(t *testing.T) {
	srv := ec2emu.Start(t)
	isolate(t, srv)
	newest := seed(t, srv)
	cfg := func(mostRecent bool, owners ...string) map[string]interface{} {
		return map[string]interface{}{"region": srv.Region, "custom_endpoint_ec2": srv.EC2Endpoint,
			"filters": map[string]string{"name": "debian-12-*", "tag:chromogenic": "yes"}, "owners": owners, "most_recent": mostRecent}
	}
	var d Datasource
	if err := d.Configure(cfg(true, "self")); err != nil {
		t.Fatal(err)
	}
	v, err := d.Execute()
	if err != nil {
		t.Fatal(err)
	}
	if id := v.GetAttr("id").AsString(); id != newest || v.GetAttr("name").AsString() != "debian-12-b" ||
		!strings.HasPrefix(v.GetAttr("root_snapshot_id").AsString(), "snap-") || v.GetAttr("tags").Index(cty.StringVal("chromogenic")).AsString() != "yes" {
		t.Errorf("got %#v, want %s", v, newest)
	}
	d = Datasource{}
	d.Configure(cfg(false, "self"))
	if _, err := d.Execute(); err == nil || !strings.Contains(err.Error(), "3 images match") {
		t.Errorf("several matches without most_recent: %v", err)
	}
	d = Datasource{}
	d.Configure(cfg(true, "123123123123"))
	if _, err := d.Execute(); err == nil || !strings.Contains(err.Error(), "no image matches") {
		t.Errorf("no match: %v", err)
	}
	d = Datasource{}
	d.Configure(cfg(true, "999999999999"))
	if v, err := d.Execute(); err != nil || v.GetAttr("name").AsString() != "debian-12-other" {
		t.Errorf("other owner: %v %v", v, err)
	}
}

// TestAccEC2ImageDatasource resolves the datasource through packer.
func TestAccEC2ImageDatasource(t *testing.T) {
	testtier.Acceptance(t, "a packer build against the EC2 emulator")
	env := packertest.Setup(t)
	srv := ec2emu.Start(t)
	isolate(t, srv)
	newest := seed(t, srv)
	dir := t.TempDir()
	target := filepath.Join(dir, "out.txt")
	env.MustBuild(t, dir, lookupTemplate, 5*time.Minute, "-var", "region="+srv.Region,
		"-var", "ec2_endpoint="+srv.EC2Endpoint, "-var", "target="+target)
	b, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(string(b)); len(f) != 3 || f[0] != newest || f[1] != "debian-12-b" || !strings.HasPrefix(f[2], "snap-") {
		t.Errorf("datasource output %q, want %s debian-12-b snap-…", b, newest)
	}
}
