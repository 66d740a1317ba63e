package openstack

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact/hcptest"
	openstackcommon "github.com/chromogenic/packer-plugin-chromogenic/common/openstack"
)

// TestArtifactHCP: the Glance image a server capture made reaches Packer's registry decoder
// as an openstack image in the config's region, with Glance's multihash, its name and disk
// format, the server and the image it booted from; the working copy as a local file. With
// no region the cloud is the region; with no multihash the MD5 is the checksum; a capture
// of a Glance image records that image as the source.
func TestArtifactHCP(t *testing.T) {
	work := filepath.Join(t.TempDir(), "w.raw")
	img := &images.Image{ID: "img-new", Name: "captured", DiskFormat: "qcow2", Checksum: "d41d8cd9",
		Properties: map[string]any{"os_hash_algo": "sha512", "os_hash_value": "cf83e135"}}
	snap := &images.Image{ID: "img-snap"}
	for _, c := range []struct {
		name          string
		region        string
		put           map[string]interface{}
		wantRegion    string
		wantSum       string
		wantSrc, inst string
		local         bool
	}{
		{"server", "RegionOne", map[string]interface{}{"image": img, "source_image": snap,
			"server": &servers.Server{ID: "srv-1", Image: map[string]interface{}{"id": "img-base"}}, bcommon.StateWorkingImage: work},
			"RegionOne", "sha512:cf83e135", "img-base", "srv-1", true},
		{"image-md5", "", map[string]interface{}{"image": &images.Image{ID: "img-new", Name: "captured", DiskFormat: "qcow2", Checksum: "d41d8cd9"},
			"source_image": &images.Image{ID: "img-src"}},
			"aio-a", "md5:d41d8cd9", "img-src", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			state := new(multistep.BasicStateBag)
			for k, v := range c.put {
				state.Put(k, v)
			}
			cfg := &Config{AccessConfig: openstackcommon.AccessConfig{Cloud: "aio-a", Region: c.region}}
			imgs := hcptest.Images(t, newArtifact(state, cfg))
			if len(imgs) != map[bool]int{true: 2, false: 1}[c.local] {
				t.Fatalf("%d images: %+v", len(imgs), imgs)
			}
			g := imgs[0]
			if g.ImageID != "img-new" || g.ProviderName != "openstack" || g.ProviderRegion != c.wantRegion || g.SourceImageID != c.wantSrc {
				t.Errorf("image %+v", g)
			}
			want := map[string]string{"image_name": "captured", "disk_format": "qcow2", "checksum": c.wantSum, "cloud": "aio-a",
				"source_instance": c.inst, "source_image": c.wantSrc, "builder": BuilderID}
			for k, v := range want {
				if g.Labels[k] != v {
					t.Errorf("label %s = %q, want %q (labels %v)", k, g.Labels[k], v, g.Labels)
				}
			}
			if c.local {
				l := imgs[1]
				if l.ImageID != work || l.ProviderName != "local" || l.SourceImageID != "img-base" || l.Labels["source_instance"] != "srv-1" || l.Labels["disk_format"] != "raw" {
					t.Errorf("working copy image %+v", l)
				}
			}
		})
	}
}

// TestArtifactSeveralDisks: with disks = "all" the artifact lists the other disks' working
// copies after the root's (Files, and image_paths for chromogenic-convert), and the
// provenance source names the volumes and their snapshots after the root's.
func TestArtifactSeveralDisks(t *testing.T) {
	dir := t.TempDir()
	paths := bcommon.DiskPaths(filepath.Join(dir, "b.raw"), 3)
	state := new(multistep.BasicStateBag)
	state.Put(bcommon.StateWorkingImage, paths[0])
	state.Put(bcommon.StateWorkingImages, paths)
	state.Put("server", &servers.Server{ID: "srv-1"})
	state.Put("snapshot_id", "img-snap")
	state.Put(stateVolumeDisks, []*volumeDisk{{VolumeID: "vol-b", SnapshotID: "snap-b"}, {VolumeID: "vol-c", SnapshotID: "snap-c"}})
	cfg := &Config{AccessConfig: openstackcommon.AccessConfig{Cloud: "aio-a"}}
	a := newArtifact(state, cfg)
	if got := a.Files(); len(got) != 3 || got[0] != paths[0] || got[1] != paths[1] || got[2] != paths[2] {
		t.Errorf("Files %v, want %v", got, paths)
	}
	if got, _ := a.State("image_paths").([]string); len(got) != 3 || got[2] != paths[2] {
		t.Errorf("image_paths %v", a.State("image_paths"))
	}
	src := provenanceSource(cfg)(state)
	if strings.Join(src.Volumes, ",") != "vol-b,vol-c" || strings.Join(src.Snapshots, ",") != "img-snap,snap-b,snap-c" {
		t.Errorf("provenance source %+v", src)
	}
}
