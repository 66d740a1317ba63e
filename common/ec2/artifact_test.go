package ec2common

import (
	"fmt"
	"strings"
	"testing"

	registryimage "github.com/hashicorp/packer-plugin-sdk/packer/registry/image"

	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact"
	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact/hcptest"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
)

func byID(imgs []registryimage.Image) map[string]registryimage.Image {
	m := map[string]registryimage.Image{}
	for _, i := range imgs {
		m[i.ImageID] = i
	}
	return m
}

// TestArtifactHCP: an AMI reaches Packer's registry decoder as an aws image in its region
// (a Eucalyptus EMI as eucalyptus), with its snapshot, source and input; a builder's
// artifact adds its working copy as a local file; the old atlas state is kept.
func TestArtifactHCP(t *testing.T) {
	aws := NewAMIArtifact("chromogenic.ec2-import", &cloud.Clients{Region: "eu-west-1", HasEBSDirect: true}, "ami-0123", "snap-9", nil)
	aws.Input, aws.SourceImage = "/out/disk.qcow2", "ami-source"
	aws.Provenance = artifact.Provenance{Path: "/out/disk.raw.ec2-import.provenance.json", SHA256: "abc1"}
	euca := NewAMIArtifact("chromogenic.ec2-import", &cloud.Clients{Region: "eucalyptus", HasEBSDirect: false}, "emi-0abc", "", nil)
	euca.Bucket = "bundles"
	built := &Artifact{BuilderIDValue: "chromogenic.ec2", Amis: map[string]string{"us-east-1": "ami-1", "us-west-2": "ami-2"},
		SourceInstance: "i-42", SourceImage: "ami-base", LocalPath: "/work/w.raw"}
	copied := &Artifact{BuilderIDValue: "chromogenic.ec2", Amis: map[string]string{"us-east-1": "ami-1", "eu-west-1": "ami-2"},
		SnapshotID: "snap-1", RegionSnapshots: map[string]string{"us-east-1": "snap-1", "eu-west-1": "snap-2"}}
	multi := &Artifact{BuilderIDValue: "chromogenic.ec2", Amis: map[string]string{"us-east-1": "ami-m", "eu-west-1": "ami-c"},
		SnapshotID: "snap-r", Snapshots: []string{"snap-r", "snap-d2", "snap-d3"},
		RegionSnapshots: map[string]string{"us-east-1": "snap-r", "eu-west-1": "snap-c"}}
	if id := copied.Id(); id != "eu-west-1:ami-2,us-east-1:ami-1" {
		t.Errorf("Id of region copies %q", id)
	}
	for _, c := range []struct {
		name string
		a    *Artifact
		want []registryimage.Image
	}{
		{"aws", aws, []registryimage.Image{{ImageID: "ami-0123", ProviderName: "aws", ProviderRegion: "eu-west-1", SourceImageID: "ami-source",
			Labels: map[string]string{"disk_format": "ami", "snapshot_id": "snap-9", "builder": "chromogenic.ec2-import", "input": "/out/disk.qcow2", "source_image": "ami-source",
				artifact.LabelProvenance: "/out/disk.raw.ec2-import.provenance.json", artifact.LabelProvenanceSHA256: "abc1"}}}},
		{"eucalyptus", euca, []registryimage.Image{{ImageID: "emi-0abc", ProviderName: "eucalyptus", ProviderRegion: "eucalyptus",
			Labels: map[string]string{"disk_format": "emi", "builder": "chromogenic.ec2-import", "bundle_bucket": "bundles"}}}},
		{"region copies", copied, []registryimage.Image{
			{ImageID: "ami-1", ProviderName: "aws", ProviderRegion: "us-east-1",
				Labels: map[string]string{"disk_format": "ami", "snapshot_id": "snap-1", "builder": "chromogenic.ec2"}},
			{ImageID: "ami-2", ProviderName: "aws", ProviderRegion: "eu-west-1",
				Labels: map[string]string{"disk_format": "ami", "snapshot_id": "snap-2", "builder": "chromogenic.ec2"}},
		}},
		{"several disks", multi, []registryimage.Image{
			{ImageID: "ami-m", ProviderName: "aws", ProviderRegion: "us-east-1",
				Labels: map[string]string{"disk_format": "ami", "snapshot_id": "snap-r", "snapshot_ids": "snap-r,snap-d2,snap-d3", "builder": "chromogenic.ec2"}},
			{ImageID: "ami-c", ProviderName: "aws", ProviderRegion: "eu-west-1",
				Labels: map[string]string{"disk_format": "ami", "snapshot_id": "snap-c", "builder": "chromogenic.ec2"}},
		}},
		{"builder", built, []registryimage.Image{
			{ImageID: "ami-1", ProviderName: "aws", ProviderRegion: "us-east-1", SourceImageID: "ami-base",
				Labels: map[string]string{"disk_format": "ami", "source_instance": "i-42", "builder": "chromogenic.ec2", "source_image": "ami-base"}},
			{ImageID: "ami-2", ProviderName: "aws", ProviderRegion: "us-west-2", SourceImageID: "ami-base",
				Labels: map[string]string{"disk_format": "ami", "source_instance": "i-42", "builder": "chromogenic.ec2", "source_image": "ami-base"}},
			{ImageID: "/work/w.raw", ProviderName: "local", SourceImageID: "ami-base",
				Labels: map[string]string{"disk_format": "raw", "source_instance": "i-42", "builder": "chromogenic.ec2", "source_image": "ami-base"}},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := byID(hcptest.Images(t, c.a))
			if len(got) != len(c.want) {
				t.Fatalf("%d images %+v, want %d", len(got), got, len(c.want))
			}
			for _, w := range c.want {
				g, ok := got[w.ImageID]
				if !ok {
					t.Errorf("no image %s in %+v", w.ImageID, got)
					continue
				}
				if w.ProviderName == artifact.ProviderLocal {
					w.ProviderRegion = g.ProviderRegion // the host's name
				}
				if g.ProviderName != w.ProviderName || g.ProviderRegion != w.ProviderRegion || g.SourceImageID != w.SourceImageID || len(g.Labels) != len(w.Labels) {
					t.Errorf("image %+v, want %+v", g, w)
				}
				for k, v := range w.Labels {
					if g.Labels[k] != v {
						t.Errorf("%s label %s = %q, want %q", w.ImageID, k, g.Labels[k], v)
					}
				}
			}
			remote := hcptest.Remote(t, c.a)
			// Across the RPC a map comes back keyed by interface{}.
			atlas := map[string]interface{}{}
			if m, ok := remote.State("atlas.artifact.metadata").(map[interface{}]interface{}); ok {
				for k, v := range m {
					atlas[fmt.Sprint(k)] = v
				}
			}
			for r, id := range c.a.Amis {
				if atlas["region."+r] != id {
					t.Errorf("atlas.artifact.metadata %v lacks region.%s = %s", atlas, r, id)
				}
			}
		})
	}
}

// The working copies of a guest on several disks: Files lists them all (Destroy removes
// them), image_paths lists them in order, the root's first, and String names them.
func TestArtifactSeveralDisks(t *testing.T) {
	a := &Artifact{BuilderIDValue: "chromogenic.ec2", Amis: map[string]string{"us-east-1": "ami-1"}, LocalPath: "/out/b.raw",
		SnapshotID: "snap-1", Snapshots: []string{"snap-1", "snap-2"}, Extra: []string{"/out/kernel"}, StateData: map[string]interface{}{}}
	a.AddDisks("/out/b-disk2.raw", "/out/b-disk3.raw")
	if got := fmt.Sprint(a.Files()); got != "[/out/b.raw /out/b-disk2.raw /out/b-disk3.raw /out/kernel]" {
		t.Errorf("Files %s", got)
	}
	paths, format, err := artifact.LocalImages(&withFormat{a})
	if err != nil || format != "raw" || fmt.Sprint(paths) != "[/out/b.raw /out/b-disk2.raw /out/b-disk3.raw]" {
		t.Errorf("LocalImages %v %q %v", paths, format, err)
	}
	if s := a.String(); !strings.Contains(s, "snap-1, snap-2") || !strings.Contains(s, "/out/b-disk3.raw") {
		t.Errorf("String %q", s)
	}
}

// withFormat declares the working copy's path and format, as the builder's artifact does.
type withFormat struct{ *Artifact }

func (w *withFormat) State(name string) interface{} {
	switch name {
	case artifact.ImagePath:
		return w.LocalPath
	case artifact.ImageFormat:
		return "raw"
	}
	return w.Artifact.State(name)
}
