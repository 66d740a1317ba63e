package openstack

import (
	"fmt"
	"strings"

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
			src.Image, src.ImageName = img.ID, img.Name
		}
		if id, ok := state.Get("snapshot_id").(string); ok && id != "" {
			src.Snapshots = []string{id}
		}
		// disks = "all": the attached volumes and their Cinder snapshots, in disk order
		if disks, ok := state.Get(stateVolumeDisks).([]*volumeDisk); ok && len(disks) > 0 {
			for _, d := range disks {
				src.Volumes = append(src.Volumes, d.VolumeID)
				src.Snapshots = append(src.Snapshots, d.SnapshotID)
			}
		}
		return src
	}
}

// sameSource tells whether base (a base_provenance record's source) is of what this build
// captures (cur, and img: the snapshot taken or the source image): the same server; or, for
// an image source, the same image, an image of the same name (images of one lineage, such as
// a nightly series, share it), or a snapshot of the server the base captured. The cloud's
// region and endpoint must match where both are known. The error names both sources.
func sameSource(base, cur provenance.Source, img *images.Image, record string) error {
	if base.Region != "" && cur.Region != "" && base.Region != cur.Region {
		return fmt.Errorf("base_provenance %s: captured in region %s, this build captures in %s: refused", record, base.Region, cur.Region)
	}
	if base.Endpoint != "" && cur.Endpoint != "" && strings.TrimRight(base.Endpoint, "/") != strings.TrimRight(cur.Endpoint, "/") {
		return fmt.Errorf("base_provenance %s: captured from the cloud %s, this build captures from %s: refused", record, base.Endpoint, cur.Endpoint)
	}
	if cur.Instance != "" {
		if base.Instance == cur.Instance {
			return nil
		}
	} else {
		snapOf := ""
		if img != nil {
			snapOf, _ = img.Properties["instance_uuid"].(string)
		}
		switch {
		case base.Image != "" && base.Image == cur.Image && base.Instance == "":
			return nil
		case base.ImageName != "" && base.ImageName == cur.ImageName:
			return nil
		case base.Instance != "" && snapOf == base.Instance:
			return nil
		}
	}
	return fmt.Errorf("base_provenance %s is from another source: it captured %s, this build captures %s; an update needs the same server, or an image of the same lineage (the same image, one of the same name, or a snapshot of the base's server): refused",
		record, describeSource(base), describeSource(cur))
}

func describeSource(s provenance.Source) string {
	switch {
	case s.Instance != "":
		return "server " + s.Instance
	case s.ImageName != "":
		return fmt.Sprintf("image %s (%q)", s.Image, s.ImageName)
	case s.Image != "":
		return "image " + s.Image
	}
	return "an unknown source"
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
