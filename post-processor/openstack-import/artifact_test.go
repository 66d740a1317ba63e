package openstackimport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact"
	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact/hcptest"
	openstackcommon "github.com/chromogenic/packer-plugin-chromogenic/common/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
)

// TestArtifactHCP: the image the import made reaches Packer's registry decoder as an
// openstack image with its source and input; an artifact without it has no metadata to
// push, which Packer reports rather than pushing an empty image.
func TestArtifactHCP(t *testing.T) {
	img := &images.Image{ID: "img-1", Name: "pushed", DiskFormat: "raw",
		Properties: map[string]any{"os_hash_algo": "sha512", "os_hash_value": "00ff"}}
	a := &Artifact{ImageID: img.ID, ImageName: img.Name,
		hcp: openstackcommon.HCPImage(BuilderID, "aio-b", "", img, openstackcommon.HCPSource{Image: "ami-0", Input: "/out/d.qcow2"})}
	imgs := hcptest.Images(t, a)
	if len(imgs) != 1 {
		t.Fatalf("%d images: %+v", len(imgs), imgs)
	}
	g := imgs[0]
	if g.ImageID != "img-1" || g.ProviderName != "openstack" || g.ProviderRegion != "aio-b" || g.SourceImageID != "ami-0" ||
		g.Labels["checksum"] != "sha512:00ff" || g.Labels["input"] != "/out/d.qcow2" || g.Labels["disk_format"] != "raw" ||
		g.Labels["image_name"] != "pushed" || g.Labels["cloud"] != "aio-b" || g.Labels["builder"] != BuilderID {
		t.Errorf("image %+v", g)
	}
	if s := hcptest.Remote(t, &Artifact{ImageID: "x"}).State("par.artifact.metadata"); s != nil {
		t.Errorf("artifact without an image: state %#v", s)
	}
}

// The import's record: the input's record carried over (named with its SHA-256), the image
// as its output, written as openstack-image-<id>.provenance.json beside the local image
// pushed; the artifact names it in its state across the RPC and its labels, lists it as its
// one file, and Destroy removes it alone. An input whose record changed is refused.
func TestImportProvenance(t *testing.T) {
	dir := t.TempDir()
	image := filepath.Join(dir, "d.qcow2")
	os.WriteFile(image, []byte("qcow"), 0o600)
	inRec := provenance.New("chromogenic-convert")
	inRec.Source = provenance.Source{Cloud: "openstack", Instance: "srv-1"}
	inProv, err := artifact.WriteProvenance(inRec, provenance.SidecarPath(image), 0)
	if err != nil {
		t.Fatal(err)
	}
	in := artifact.New("chromogenic.test", image, new(multistep.BasicStateBag))
	in.SetProvenance(inProv)
	p := &PostProcessor{config: Config{}}
	p.config.Region = "RegionTwo"
	img := &images.Image{ID: "img-9", DiskFormat: "qcow2", SizeBytes: 4,
		Properties: map[string]any{"os_hash_algo": "sha512", "os_hash_value": "00ff"}}
	prov, err := p.provenance(hcptest.Remote(t, in), &artifact.LocalInput{Path: image, Format: "qcow2"}, "", img, []string{"vol-2"})
	if err != nil {
		t.Fatal(err)
	}
	if prov.Path != filepath.Join(dir, "openstack-image-img-9"+provenance.Suffix) {
		t.Errorf("record at %s", prov.Path)
	}
	r, err := provenance.Read(prov.Path)
	if err != nil {
		t.Fatal(err)
	}
	if r.Producer != "chromogenic-openstack-import" || r.Input != inProv.Path || r.InputSHA256 != inProv.SHA256 || r.Source.Instance != "srv-1" ||
		len(r.Outputs) != 2 || r.Outputs[0] != (provenance.Output{Cloud: "openstack", Region: "RegionTwo", Kind: "image", ID: "img-9", Format: "qcow2", Size: 4, Checksum: "sha512:00ff"}) ||
		r.Outputs[1] != (provenance.Output{Cloud: "openstack", Region: "RegionTwo", Kind: "volume", ID: "vol-2", Disk: 1}) {
		t.Errorf("record %+v", r)
	}
	a := &Artifact{ImageID: img.ID, Provenance: prov,
		hcp: openstackcommon.HCPImage(BuilderID, "", "RegionTwo", img, openstackcommon.HCPSource{})}
	prov.Labels(a.hcp.Labels)
	if got := hcptest.Remote(t, a).State(artifact.StateProvenance); got != prov.Path {
		t.Errorf("state across the RPC: %#v", got)
	}
	if imgs := hcptest.Images(t, a); imgs[0].Labels[artifact.LabelProvenanceSHA256] != prov.SHA256 {
		t.Errorf("labels %v", imgs[0].Labels)
	}
	if f := a.Files(); len(f) != 1 || f[0] != prov.Path {
		t.Errorf("files %v", f)
	}
	if err := a.Destroy(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{image, inProv.Path} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("Destroy removed %s: %v", f, err)
		}
	}
	if _, err := os.Stat(prov.Path); !os.IsNotExist(err) {
		t.Errorf("Destroy left the record: %v", err)
	}

	os.WriteFile(inProv.Path, []byte(`{"version": 1}`), 0o600)
	if _, err := p.provenance(in, &artifact.LocalInput{Path: image}, "", img, nil); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("changed input record: %v", err)
	}
}

// TestArtifactVolumes: the volumes made of a guest's other disks are in the artifact's state
// (volume_ids, disk 2 first) and its description; an artifact of one disk has none.
func TestArtifactVolumes(t *testing.T) {
	a := &Artifact{ImageID: "img-1", ImageName: "pushed", VolumeIDs: []string{"vol-2", "vol-3"}}
	if got, _ := a.State(StateVolumeIDs).([]string); strings.Join(got, ",") != "vol-2,vol-3" {
		t.Errorf("volume_ids %v", a.State(StateVolumeIDs))
	}
	if s := a.String(); !strings.Contains(s, "vol-2, vol-3") || !strings.Contains(s, "img-1") {
		t.Errorf("String %q", s)
	}
	one := &Artifact{ImageID: "img-1", ImageName: "pushed"}
	if got, _ := one.State(StateVolumeIDs).([]string); len(got) != 0 || strings.Contains(one.String(), "volumes") {
		t.Errorf("one disk: volume_ids %v, String %q", got, one.String())
	}
}
