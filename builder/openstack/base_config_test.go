package openstack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
)

// base_provenance is read in Prepare: a missing or damaged file, a record of another cloud,
// without a block map or of another block size, of another server or region, whose working
// copy is in this build's output_directory, or with mode = "snapshot" are errors naming the
// field and the file; a good record is kept for the build.
func TestPrepareBaseProvenance(t *testing.T) {
	t.Setenv("OS_CLOUD", "")
	t.Setenv("OS_AUTH_URL", "")
	clouds := cloudsFile(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	write := func(name string, edit func(r *provenance.Record)) string {
		r := provenance.New("chromogenic-openstack")
		r.Source = provenance.Source{Cloud: "openstack", Region: "RegionOne", Instance: "srv-1", Image: "img-0"}
		r.WorkingCopy = &provenance.BlockMap{Path: filepath.Join(dir, "base", "w.raw"), Size: 2 * provenance.BlockSize, BlockSize: provenance.BlockSize, Blocks: []string{"", ""}}
		edit(r)
		p := filepath.Join(dir, name)
		if err := r.Write(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", func(*provenance.Record) {})
	damaged := filepath.Join(dir, "damaged.json")
	os.WriteFile(damaged, []byte("{"), 0o644)
	for _, tc := range []struct {
		path, want string
		extra      map[string]interface{}
	}{
		{filepath.Join(dir, "missing.json"), "base_provenance: provenance: open", nil},
		{damaged, "base_provenance: provenance " + damaged, nil},
		{write("aws.json", func(r *provenance.Record) { r.Source.Cloud = "aws" }), `its source cloud is "aws", this build captures from openstack`, nil},
		{write("nomap.json", func(r *provenance.Record) { r.WorkingCopy = nil }), "records no working copy block map", nil},
		{write("4k.json", func(r *provenance.Record) {
			r.WorkingCopy.BlockSize, r.WorkingCopy.Size, r.WorkingCopy.Blocks = 4096, 4096, []string{""}
		}), "4096-byte blocks, want 524288", nil},
		{write("other.json", func(r *provenance.Record) { r.Source.Instance = "srv-2" }), "is from another source: it captured server srv-2, this build captures server srv-1", nil},
		{write("region.json", func(r *provenance.Record) { r.Source.Region = "RegionTwo" }), "captured in region RegionTwo, this build captures in RegionOne", map[string]interface{}{"region": "RegionOne"}},
		{write("inside.json", func(r *provenance.Record) { r.WorkingCopy.Path = filepath.Join(out, "b.raw") }), "is in this build's output_directory", nil},
		{good, `base_provenance applies to mode = "image" only`, map[string]interface{}{"mode": "snapshot"}},
	} {
		m := map[string]interface{}{"cloud": "test", "clouds_file": clouds, "instance_id": "srv-1", "image_name": "n",
			"output_directory": out, "base_provenance": tc.path}
		for k, v := range tc.extra {
			m[k] = v
		}
		var c Config
		err := c.Prepare(m)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "base_provenance") {
			t.Errorf("%s: %v, want %q", filepath.Base(tc.path), err, tc.want)
		}
	}
	// The working copy in output_directory through a symbolic link to it.
	os.MkdirAll(out, 0o755)
	link := filepath.Join(dir, "link")
	os.Symlink(out, link)
	viaLink := write("link.json", func(r *provenance.Record) { r.WorkingCopy.Path = filepath.Join(link, "b.raw") })
	var c Config
	if err := c.Prepare(map[string]interface{}{"cloud": "test", "clouds_file": clouds, "instance_id": "srv-1", "image_name": "n",
		"output_directory": out, "base_provenance": viaLink}); err == nil || !strings.Contains(err.Error(), "output_directory") {
		t.Errorf("working copy in output_directory through a link: %v", err)
	}
	c = Config{}
	if err := c.Prepare(map[string]interface{}{"cloud": "test", "clouds_file": clouds, "instance_id": "srv-1", "image_name": "n",
		"output_directory": out, "base_provenance": good}); err != nil {
		t.Fatal(err)
	}
	if c.baseRecord == nil || c.baseRecord.Source.Instance != "srv-1" {
		t.Errorf("base record %+v", c.baseRecord)
	}
}

// sameSource: the same server; for an image source the same image, one of the same name, or
// a snapshot of the base's server; anything else, or another region or cloud, is refused
// naming both sources.
func TestSameSource(t *testing.T) {
	srv := provenance.Source{Cloud: "openstack", Region: "R", Endpoint: "http://k:5000/v3", Instance: "srv-1", Image: "boot"}
	img := provenance.Source{Cloud: "openstack", Region: "R", Endpoint: "http://k:5000/v3/", Image: "img-1", ImageName: "golden"}
	snapOf := func(s string) *images.Image {
		return &images.Image{ID: "x", Properties: map[string]interface{}{"instance_uuid": s}}
	}
	for _, tc := range []struct {
		name      string
		base, cur provenance.Source
		img       *images.Image
		want      string // "" when accepted
	}{
		{"same server", srv, srv, nil, ""},
		{"another server", srv, func() provenance.Source { s := srv; s.Instance = "srv-2"; return s }(), nil, "it captured server srv-1, this build captures server srv-2"},
		{"same image", img, img, nil, ""},
		{"same name", img, func() provenance.Source { s := img; s.Image = "img-2"; return s }(), nil, ""},
		{"other name", img, func() provenance.Source { s := img; s.Image, s.ImageName = "img-2", "other"; return s }(), nil, `it captured image img-1 ("golden"), this build captures image img-2 ("other")`},
		{"snapshot of the base's server", srv, img, snapOf("srv-1"), ""},
		{"snapshot of another server", srv, img, snapOf("srv-9"), "is from another source"},
		{"server base, its boot image", srv, provenance.Source{Cloud: "openstack", Region: "R", Image: "boot"}, nil, "is from another source"},
		{"image base, a server now", img, srv, nil, "is from another source"},
		{"region", srv, func() provenance.Source { s := srv; s.Region = "Q"; return s }(), nil, "captured in region R, this build captures in Q"},
		{"cloud", srv, func() provenance.Source { s := srv; s.Endpoint = "clouds.yaml:other"; return s }(), nil, "captured from the cloud http://k:5000/v3"},
	} {
		err := sameSource(tc.base, tc.cur, tc.img, "r.json")
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
