// Package openstackimport is the chromogenic-openstack-import post-processor: it pushes a
// disk image into a Glance of any cloud, region and project. The input is either a local
// image (any artifact that carries one), converted to the target disk format on the fly and
// streamed: no temporary copy for the formats that stream (raw, qcow2 uncompressed, VMDK
// stream, fixed VHD); or a Glance image of another cloud (an artifact of
// chromogenic-openstack in snapshot mode, of this post-processor, or source_image), streamed
// Glance to Glance (migrate.go). The data goes in by plain upload or by the interoperable
// image import (glance-direct).
package openstackimport

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/hashicorp/hcl/v2/hcldec"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	registryimage "github.com/hashicorp/packer-plugin-sdk/packer/registry/image"

	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact"
	openstackcommon "github.com/chromogenic/packer-plugin-chromogenic/common/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/common/postprocess"
	"github.com/chromogenic/packer-plugin-chromogenic/common/progress"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/transfer"
)

// BuilderID identifies artifacts of this post-processor.
const BuilderID = "chromogenic.post-processor.openstack-import"

// PostProcessor is chromogenic-openstack-import.
type PostProcessor struct {
	config Config
}

func (p *PostProcessor) ConfigSpec() hcldec.ObjectSpec { return p.config.FlatMapstructure().HCL2Spec() }

func (p *PostProcessor) Configure(raws ...interface{}) error { return p.config.Prepare(raws...) }

func (p *PostProcessor) PostProcess(ctx context.Context, ui packersdk.Ui, in packersdk.Artifact) (packersdk.Artifact, bool, bool, error) {
	ctx, stop, err := postprocess.Start(ctx, "chromogenic-openstack-import")
	if err != nil {
		return nil, false, false, err
	}
	defer stop()
	c := &p.config
	imageID, local, err := p.input(in)
	if err != nil {
		return nil, false, false, err
	}
	// A migration authenticates to the source cloud and looks up its image while this
	// authenticates to the target: each is a round trip or more to a Keystone (and the first
	// request of a new token costs a validation on the Glance side).
	var source chan sourceResult
	if local == nil {
		ui.Say("Connecting to the source OpenStack...")
		source = make(chan sourceResult, 1)
		go func() { source <- p.connectSource(ctx, imageID) }()
	}
	ui.Say("Connecting to the target OpenStack...")
	clients, err := cloud.Connect(ctx, c.Auth())
	if err != nil {
		return nil, false, false, err
	}
	for _, d := range c.Deprecated() {
		ui.Error("Warning: " + d)
	}
	if c.shareWith, err = cloud.ResolveMembers(ctx, clients, "image_members", c.ImageMembers, ui.Message); err != nil {
		return nil, false, false, err
	}
	var img *images.Image
	var volumeIDs []string
	if local != nil {
		// the other disks of a guest on several disks first, as volumes: deleted if the
		// image fails
		var undo func()
		if volumeIDs, undo, err = p.pushOtherDisks(ctx, ui, clients, in, local); err != nil {
			return nil, false, false, err
		}
		if img, err = p.pushLocal(ctx, ui, clients, local); err != nil {
			undo()
		}
	} else {
		img, err = p.migrate(ctx, ui, clients, <-source)
	}
	if err != nil {
		return nil, false, false, err
	}
	ui.Say(fmt.Sprintf("Image %s (%s) is active", img.Name, img.ID))
	src := openstackcommon.HCPSource{Image: imageID}
	if local != nil {
		src.Image, src.Input = artifact.HCPSourceOf(in), in.Id()
	}
	a := &Artifact{ImageID: img.ID, ImageName: img.Name, Region: c.Region, VolumeIDs: volumeIDs,
		generated: in.State("generated_data"), hcp: openstackcommon.HCPImage(BuilderID, c.Cloud, c.Region, img, src)}
	if a.Provenance, err = p.provenance(in, local, imageID, img, volumeIDs); err != nil {
		// The image is published: it stays, and the build says what is missing.
		return a, true, false, fmt.Errorf("image %s (%s) is active, but its provenance record: %w", img.Name, img.ID, err)
	}
	if a.Provenance.Path != "" {
		ui.Say("Provenance record written: " + a.Provenance.Path)
		a.Provenance.Labels(a.hcp.Labels)
	}
	return a, true, false, nil
}

// provenance writes the import's record: the input's record (when it names one) with the
// Glance image made as the output (and the volumes of the other disks), in the directory of the local image pushed (or of the
// input's record for a migration), named openstack-image-<id>.provenance.json. A migration
// of an input with no record writes none.
func (p *PostProcessor) provenance(in packersdk.Artifact, local *artifact.LocalInput, sourceID string, img *images.Image, volumeIDs []string) (artifact.Provenance, error) {
	inRec, inProv, err := artifact.ProvenanceOf(in)
	if err != nil {
		return artifact.Provenance{}, err
	}
	rec := provenance.From("chromogenic-openstack-import", inRec, inProv.Path, inProv.SHA256)
	dir := filepath.Dir(inProv.Path)
	switch {
	case local != nil:
		abs, _ := filepath.Abs(local.Path)
		dir = filepath.Dir(abs)
		if inRec == nil {
			rec.Source = provenance.Source{Cloud: "local", Path: abs}
		}
	case inRec == nil:
		return artifact.Provenance{}, nil
	}
	rec.Outputs = append(rec.Outputs, openstackcommon.ProvenanceOutput(p.config.Cloud, p.config.Region, img))
	for i, id := range volumeIDs { // the other disks, as Cinder volumes
		o := openstackcommon.ProvenanceOutput(p.config.Cloud, p.config.Region, &images.Image{})
		o.Kind, o.ID, o.Disk = "volume", id, i+1
		rec.Outputs = append(rec.Outputs, o)
	}
	return artifact.WriteProvenance(rec, provenance.SidecarPath(filepath.Join(dir, "openstack-image-"+img.ID)), 0)
}

// input says what to push: a Glance image of the source cloud (source_image, or an artifact
// that is a Glance image with no local copy), or a local image (see localFormats).
func (p *PostProcessor) input(in packersdk.Artifact) (imageID string, local *artifact.LocalInput, err error) {
	c := &p.config
	if c.SourceImage != "" {
		return c.SourceImage, nil, nil
	}
	local, lerr := artifact.LocalImageFor(in, localFormats(c.ImageDiskFormat))
	if lerr == nil {
		return "", local, nil
	}
	switch in.BuilderId() {
	case openstackcommon.BuilderID, BuilderID:
		if in.Id() == "" {
			return "", nil, lerr
		}
		if !c.HasSource() {
			return "", nil, fmt.Errorf("the input is Glance image %s, with no local copy: set the source block (how to reach the cloud holding it) to migrate it", in.Id())
		}
		return in.Id(), nil, nil
	}
	return "", nil, fmt.Errorf("chromogenic-openstack-import: %w", lerr)
}

// localFormats is the order in which a local image is chosen from an artifact with several
// (chromogenic-convert with several formats): the file already in disk_format, uploaded as
// it is (for vmdk, the VMDK inside an OVA too), else the cheapest to read and convert; the
// disk inside an OVA last. An OVA file itself is never uploaded.
func localFormats(diskFormat string) []string {
	out := []string{diskFormat}
	if diskFormat == "vmdk" {
		out = append(out, "ova")
	}
	for _, f := range artifact.ImportFormats {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// pushLocal converts a local image to disk_format on the fly and uploads it.
func (p *PostProcessor) pushLocal(ctx context.Context, ui packersdk.Ui, clients *cloud.Clients, local *artifact.LocalInput) (*images.Image, error) {
	c := &p.config
	src, err := local.Open()
	if err != nil {
		return nil, err
	}
	defer src.Close()
	ui.Say(fmt.Sprintf("Uploading %s as image %q (%s, %s, %s)...", local, c.ImageName, c.ImageDiskFormat, c.ImageVisibility, c.ImportMethod))
	n, err := c.newImage(nil, c.ImageDiskFormat, src.Size())
	if err != nil {
		return nil, err
	}
	return p.convertAndUpload(ctx, ui, clients, src, local, n, nil)
}

// convertAndUpload uploads src as n.DiskFormat (cloud.UploadImage, as chromogenic-openstack
// does): the bytes of local as they are when it is set and its image already has that format,
// streamed through the format's writer when it can stream, else through a temporary file of
// the target format (next to local's file). finish, if set, runs after the last byte is
// produced and before the upload sees EOF: its error aborts the upload.
func (p *PostProcessor) convertAndUpload(ctx context.Context, ui packersdk.Ui, clients *cloud.Clients, src diskimage.Image, local *artifact.LocalInput, n cloud.NewImage, finish func() error) (*images.Image, error) {
	if _, err := diskimage.LookupWriter(n.DiskFormat); err != nil {
		return nil, fmt.Errorf("disk_format: %w", err)
	}
	source := &transfer.Source{Image: src}
	opts := transfer.Options{Finish: finish}
	if local != nil {
		source.AsIsFormat = local.ImageFormat()
		source.AsIs = func() (io.ReadCloser, error) {
			r, _, err := local.OpenBytes()
			return r, err
		}
		opts.SpoolDir = filepath.Dir(local.Path)
		opts.Say = func(msg string) {
			if strings.HasPrefix(msg, "already ") {
				msg = local.String() + " is " + msg
			}
			ui.Message(msg)
		}
	}
	return p.upload(ctx, ui, clients, cloud.UploadInput{Image: n, Source: source, Encode: opts})
}

// upload sends the data of in to the target Glance with the configured import method and
// state_timeout.
func (p *PostProcessor) upload(ctx context.Context, ui packersdk.Ui, clients *cloud.Clients, in cloud.UploadInput) (*images.Image, error) {
	c := &p.config
	size := in.Size
	if size == 0 && in.Source != nil {
		size = in.Source.Image.Size()
	}
	bar := progress.New(ui, "upload "+in.Image.Name, size)
	defer bar.Close()
	in.Method, in.Timeout, in.TimeoutName = c.ImportMethod, c.StateTimeout, "state_timeout"
	in.Progress, in.Status = bar.Update, ui.Message
	return cloud.UploadImage(ctx, clients.Image, in)
}

// newImage describes the target image of virtualSize bytes (0: unknown): the settings, over
// what the source image carries (ImageConfig.MinDisk and MinRAM: the set values, else the
// source's), shared with the members as ResolveMembers found them.
func (c *Config) newImage(src *images.Image, format string, virtualSize int64) (cloud.NewImage, error) {
	n := cloud.NewImage{Name: c.ImageName, DiskFormat: format, Visibility: c.ImageVisibility, Tags: c.ImageTags,
		Properties: c.Metadata, Members: c.shareWith}
	srcDisk, srcRAM := 0, 0
	if src != nil {
		n.Properties = cloud.InheritProperties(src, c.Metadata)
		srcDisk, srcRAM = src.MinDiskGigabytes, src.MinRAMMegabytes
	}
	var err error
	if n.MinDisk, err = c.ImageConfig.MinDisk(srcDisk, virtualSize); err != nil {
		return n, err
	}
	n.MinRAM = c.ImageConfig.MinRAM(srcRAM)
	return n, nil
}

// StateVolumeIDs is the artifact's state key of the Cinder volumes made of the other disks
// of a guest on several disks: []string, disk 2 first.
const StateVolumeIDs = "volume_ids"

// Artifact is the image created in the target cloud (and the volumes of the other disks).
type Artifact struct {
	ImageID, ImageName, Region string
	// VolumeIDs are the Cinder volumes made of the other disks of a guest on several disks,
	// in disk order (disk 2 first).
	VolumeIDs []string
	generated interface{}
	hcp       *registryimage.Image
	// Provenance is the record written for the image (its one local file).
	Provenance artifact.Provenance
}

func (a *Artifact) BuilderId() string { return BuilderID }
func (a *Artifact) Files() []string {
	if a.Provenance.Path == "" {
		return nil
	}
	return []string{a.Provenance.Path}
}
func (a *Artifact) Id() string { return a.ImageID }
func (a *Artifact) String() string {
	if len(a.VolumeIDs) > 0 {
		return fmt.Sprintf("OpenStack image %s (%s) and volumes %s", a.ImageName, a.ImageID, strings.Join(a.VolumeIDs, ", "))
	}
	return fmt.Sprintf("OpenStack image %s (%s)", a.ImageName, a.ImageID)
}

// State answers generated_data and, for the HCP Packer registry,
// registryimage.ArtifactStateURI: the image (openstackcommon.HCPImage; its source image is
// the migrated one, its input label the local artifact pushed).
func (a *Artifact) State(name string) interface{} {
	switch name {
	case "generated_data":
		return a.generated
	case StateVolumeIDs:
		return a.VolumeIDs
	case registryimage.ArtifactStateURI:
		if a.hcp != nil {
			return []*registryimage.Image{a.hcp}
		}
	case artifact.StateProvenance:
		return a.Provenance.Path
	case artifact.StateProvenanceSHA256:
		return a.Provenance.SHA256
	case artifact.StateProvenanceInfo:
		return a.Provenance.Summary
	}
	return nil
}

// Destroy removes the provenance record only: the image is published. A later
// post-processor never deletes it, whatever keep_input_artifact says (docs/ownership.md).
func (a *Artifact) Destroy() error { return artifact.RemoveLocal(a.Provenance.Path) }
