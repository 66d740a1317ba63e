package artifact

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	registryimage "github.com/hashicorp/packer-plugin-sdk/packer/registry/image"
	"github.com/mitchellh/mapstructure"
)

// HCP Packer registry metadata. Every chromogenic artifact answers
// registryimage.ArtifactStateURI ("par.artifact.metadata") with the images it made, as
// []*registryimage.Image, the SDK's type: Packer reads that state (across the plugin RPC,
// where it travels as plain maps) and decodes it into registry images when the build has an
// hcp_packer_registry block. The values come from what the artifact already knows: State
// never reads a disk image, so a checksum label is there only when one was computed (a
// checksum file chromogenic-convert wrote, Glance's hash of an image).

// Provider names (registry ProviderName) of chromogenic artifacts.
const (
	ProviderOpenStack  = "openstack"
	ProviderAWS        = "aws"
	ProviderEucalyptus = "eucalyptus"
	// ProviderLocal is a disk image file on the build host; its region is the host's name.
	ProviderLocal = "local"
)

// Label keys of the registry images (labels with empty values are left out).
const (
	LabelDiskFormat     = "disk_format"     // raw, qcow2, vmdk, ova...; ami/emi for AMIs
	LabelChecksum       = "checksum"        // "<type>:<hex>", e.g. sha256:…
	LabelSourceInstance = "source_instance" // the server or instance captured
	LabelSourceImage    = "source_image"    // also the image's SourceImageID
	LabelImageName      = "image_name"      // the name in the cloud
	LabelCloud          = "cloud"           // clouds.yaml entry of an OpenStack image
	LabelSnapshotID     = "snapshot_id"     // an AMI's root snapshot
	LabelSnapshotIDs    = "snapshot_ids"    // every disk's snapshot of an AMI of several disks, comma separated, root first
	LabelBuilder        = "builder"         // the builder or post-processor ID that made it
	LabelInput          = "input"           // a post-processor's input artifact (its ID)
)

// HCPImage is one registry image. Labels with an empty value are dropped; sourceImage is
// also recorded as the source_image label.
func HCPImage(provider, region, id, sourceImage string, labels map[string]string) *registryimage.Image {
	img := &registryimage.Image{ImageID: id, ProviderName: provider, ProviderRegion: region,
		SourceImageID: sourceImage, Labels: map[string]string{}}
	for k, v := range labels {
		if v != "" {
			img.Labels[k] = v
		}
	}
	if sourceImage != "" {
		img.Labels[LabelSourceImage] = sourceImage
	}
	return img
}

// HCPLocalImage is the registry image of a local disk image file: its absolute path on the
// build host, whose name is the region.
func HCPLocalImage(builderID, path, format, checksum, sourceImage string, labels map[string]string) *registryimage.Image {
	host, _ := os.Hostname()
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	l := map[string]string{LabelDiskFormat: format, LabelChecksum: checksum, LabelBuilder: builderID}
	for k, v := range labels {
		l[k] = v
	}
	return HCPImage(ProviderLocal, host, path, sourceImage, l)
}

// ChecksumFile reads the checksum file chromogenic-convert writes beside path
// (path + "." + kind, one "<hex>  <name>" line) and returns "<kind>:<hex>", or "" when there
// is none or it does not name the file.
func ChecksumFile(path, kind string) string {
	f, err := os.Open(path + "." + kind)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4096), 4096)
	if !sc.Scan() {
		return ""
	}
	sum, name, ok := strings.Cut(sc.Text(), "  ")
	if !ok || name != filepath.Base(path) || sum == "" || strings.Trim(sum, "0123456789abcdef") != "" {
		return ""
	}
	return kind + ":" + sum
}

// HCPImagesOf decodes an artifact's registry metadata the way Packer does (mapstructure,
// weakly typed, into []registryimage.Image): it is the SDK's type in the process that made
// the artifact and plain maps once it has crossed the plugin RPC. No metadata is no error.
func HCPImagesOf(a packersdk.Artifact) ([]registryimage.Image, error) {
	var imgs []registryimage.Image
	state := a.State(registryimage.ArtifactStateURI)
	if state == nil {
		return nil, nil
	}
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{Result: &imgs, WeaklyTypedInput: true})
	if err != nil {
		return nil, err
	}
	if err := dec.Decode(state); err != nil {
		return nil, fmt.Errorf("HCP Packer metadata of the %s artifact: %w", a.BuilderId(), err)
	}
	return imgs, nil
}

// HCPSourceOf is the source image to record for an image made from artifact a: the first
// source image a's own metadata records (what its builder started from), else "".
func HCPSourceOf(a packersdk.Artifact) string {
	imgs, _ := HCPImagesOf(a)
	for _, img := range imgs {
		if img.SourceImageID != "" {
			return img.SourceImageID
		}
	}
	return ""
}
