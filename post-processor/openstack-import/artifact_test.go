package openstackimport

import (
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact/hcptest"
	openstackcommon "github.com/chromogenic/packer-plugin-chromogenic/common/openstack"
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
