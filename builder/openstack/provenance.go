package openstack

import (
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	openstackcommon "github.com/chromogenic/packer-plugin-chromogenic/common/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
)

// provenanceSource is the record's source (bcommon.StepProvenance): the server captured and
// the image it booted from, or the source image; the Nova snapshot taken; the cloud's region
// and identity endpoint (or clouds.yaml cloud).
func provenanceSource(c *Config) func(multistep.StateBag) provenance.Source {
	return func(state multistep.StateBag) provenance.Source {
		src := provenance.Source{Cloud: "openstack", Region: c.Region, Endpoint: c.IdentityEndpoint}
		if src.Endpoint == "" && c.Cloud != "" {
			src.Endpoint = "clouds.yaml:" + c.Cloud
		}
		if srv, ok := state.Get("server").(*servers.Server); ok {
			src.Instance = srv.ID
			src.Image, _ = srv.Image["id"].(string)
		} else if img, ok := state.Get("source_image").(*images.Image); ok {
			src.Image = img.ID
		}
		if id, ok := state.Get("snapshot_id").(string); ok && id != "" {
			src.Snapshots = []string{id}
		}
		return src
	}
}

// provenanceOutputs is the Glance image uploaded, if any.
func provenanceOutputs(c *Config) func(multistep.StateBag) []provenance.Output {
	return func(state multistep.StateBag) []provenance.Output {
		img, ok := state.Get("image").(*images.Image)
		if !ok {
			return nil
		}
		return []provenance.Output{openstackcommon.ProvenanceOutput(c.Cloud, c.Region, img)}
	}
}
