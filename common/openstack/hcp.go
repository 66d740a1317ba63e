package openstackcommon

import (
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	registryimage "github.com/hashicorp/packer-plugin-sdk/packer/registry/image"

	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact"
)

// HCPSource is what an OpenStack image was made from, for its HCP Packer metadata.
type HCPSource struct {
	Image    string // the source Glance image ID
	Instance string // the server captured
	Input    string // a post-processor's input artifact ID
}

// HCPImage is the registry image of a Glance image (see artifact.HCPImage): provider
// openstack, region the access config's region or, without one, its clouds.yaml cloud;
// labels the image's name, disk format, checksum (Glance's os_hash, else its MD5), the cloud
// and the source.
func HCPImage(builderID, cloud, region string, img *images.Image, src HCPSource) *registryimage.Image {
	if region == "" {
		region = cloud
	}
	return artifact.HCPImage(artifact.ProviderOpenStack, region, img.ID, src.Image, map[string]string{
		artifact.LabelImageName: img.Name, artifact.LabelDiskFormat: img.DiskFormat,
		artifact.LabelChecksum: glanceChecksum(img), artifact.LabelCloud: cloud,
		artifact.LabelSourceInstance: src.Instance, artifact.LabelInput: src.Input,
		artifact.LabelBuilder: builderID,
	})
}

// glanceChecksum is "<algo>:<hex>" of the multihash Glance computes on upload, else
// "md5:<hex>" of its legacy checksum, else "".
func glanceChecksum(img *images.Image) string {
	algo, _ := img.Properties["os_hash_algo"].(string)
	value, _ := img.Properties["os_hash_value"].(string)
	switch {
	case algo != "" && value != "":
		return algo + ":" + value
	case img.Checksum != "":
		return "md5:" + img.Checksum
	}
	return ""
}
