package openstackcommon

import (
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
)

// ProvenanceOutput is a Glance image as a provenance record's output, as Glance reports it:
// its ID, disk format, size and checksum (Glance's os_hash, else its MD5, as in HCPImage);
// region the access config's region or, without one, its clouds.yaml cloud.
func ProvenanceOutput(cloud, region string, img *images.Image) provenance.Output {
	if region == "" {
		region = cloud
	}
	return provenance.Output{Cloud: "openstack", Region: region, Kind: "image", ID: img.ID,
		Format: img.DiskFormat, Size: img.SizeBytes, Checksum: glanceChecksum(img)}
}
