//go:generate packer-sdc struct-markdown
//go:generate packer-sdc mapstructure-to-hcl2 -type Config,ImageFilter

package openstack

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/common"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	openstackcommon "github.com/chromogenic/packer-plugin-chromogenic/common/openstack"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
)

// Config is the chromogenic-openstack builder's configuration.
type Config struct {
	common.PackerConfig          `mapstructure:",squash"`
	openstackcommon.AccessConfig `mapstructure:",squash"`

	// The running server to capture, by ID. Exactly one of `instance_id`, `instance_name`,
	// `source_image`, `source_image_name` and `source_image_filter` is required.
	InstanceID string `mapstructure:"instance_id" required:"false"`
	// The running server to capture, by name (it must be unique in the project).
	InstanceName string `mapstructure:"instance_name" required:"false"`
	// An existing image to start from, by ID.
	SourceImage string `mapstructure:"source_image" required:"false"`
	// An existing image to start from, by name.
	SourceImageName string `mapstructure:"source_image_name" required:"false"`
	// An existing image to start from, found by a filter.
	SourceImageFilter ImageFilter `mapstructure:"source_image_filter" required:"false"`

	// `image` (the default): bring the image home as a local working copy, run the
	// provisioners inside it through a chroot, and upload the result as a new image.
	// `snapshot`: only snapshot the server (Nova createImage) and wait for it.
	Mode string `mapstructure:"mode" required:"false"`
	// The name of the image to create.
	ImageName string `mapstructure:"image_name" required:"true"`
	// The new image: its disk format, visibility, members, tags, metadata, min_disk and
	// min_ram, as chromogenic-openstack-import takes them.
	openstackcommon.ImageConfig `mapstructure:",squash"`
	// What the new image does with the external kernel and ramdisk of a source image in the
	// AMI/AKI/ARI shape (its `kernel_id` and `ramdisk_id` properties name Glance images of
	// disk format aki and ari, and the image is a bare filesystem Nova boots with them; a
	// snapshot of a server booted from such an image carries them too). Image mode only.
	// `carry` (the default for such sources): the new image gets the same `kernel_id` and
	// `ramdisk_id`; an AMI's filesystem goes up as it is, as disk format `raw` (container
	// `bare`) unless `image_disk_format` is set: Nova boots it with the kernel and ramdisk as
	// it did the AMI, while current Nova refuses to boot a root disk of disk format `ami`
	// (its image format inspection finds raw content). A UI warning says so when the new
	// image is seen by projects that cannot see the kernel or ramdisk. `bootable`: the working copy is made a whole disk
	// that boots on its own (a partition table, the kernel and ramdisk folded into its /boot,
	// an initramfs and GRUB 2 for BIOS, extlinux where GRUB cannot be built: what chromogenic-convert's `bootable` block does),
	// uploaded as `image_disk_format` (default `qcow2`) without `kernel_id` and `ramdisk_id`.
	// Sources without them ignore `carry`; `bootable` applies to any source.
	ExternalKernel string `mapstructure:"external_kernel" required:"false"`
	// Keep the intermediate snapshot of the server (image mode). Defaults to false: it is
	// deleted once the working copy is home.
	KeepSnapshot bool `mapstructure:"keep_snapshot" required:"false"`
	// Only bring the image home and provision it (image mode): no new image is uploaded; the
	// artifact is the local working copy, for post-processors.
	SkipUpload bool `mapstructure:"skip_upload" required:"false"`
	// How long to wait for the snapshot to become active, and for the new image's upload and
	// Glance's processing of it. When it passes the build fails, naming the image and the
	// status it was stuck in, and deletes what it made. Defaults to `30m`.
	StateTimeout time.Duration `mapstructure:"state_timeout" required:"false"`
	// How the new image's data is sent to Glance (image mode): `upload` (the default:
	// `PUT /v2/images/{id}/file`) or `glance-direct` (the interoperable image import: the data
	// is staged, then imported, which is what clouds that disable the plain upload accept,
	// and which runs the cloud's import plugins). As in `chromogenic-openstack-import`.
	ImportMethod string `mapstructure:"import_method" required:"false"`

	// Which disks of the server are captured (image mode): `root` (the default) brings home
	// the server's root disk only (its Nova snapshot); `all` also brings home every Cinder
	// volume attached to the server, in the kernel's order of their device names (vdb,
	// vdc, ...). The user's volumes and server are not touched: each volume is copied
	// through temporaries this build makes and deletes (on success, failure and interrupt) —
	// a Cinder snapshot (forced: the volume is in use), a volume made from it, a Glance image
	// uploaded from that volume — and the image is downloaded like the root. Each disk gets
	// a working copy of its own (the root's is `<build name>.raw`, disk N is
	// `<build name>-disk<N>.raw`), all are attached together (the guest's `/etc/fstab`
	// entries on the other disks are mounted where it says), the artifact lists them all
	// (chromogenic-convert's OVA holds them all) and so does the provenance record. The
	// new image (unless `skip_upload`) is made from the root disk only. `all` needs a server
	// source (`instance_id` or `instance_name`) and a cloud with Cinder; it does not combine
	// with `base_provenance`.
	Disks string `mapstructure:"disks" required:"false"`

	// Where the working copy is kept (image mode), or the provenance record of the snapshot
	// (snapshot mode: `openstack-image-<id>.provenance.json`; the directory is created if
	// missing, never emptied). Defaults to `output-<build name>`.
	OutputDir string `mapstructure:"output_directory" required:"false"`

	// The provenance record (`<working copy>.provenance.json`) of an earlier image-mode build
	// of the same source, to update its working copy instead of writing a new one (image
	// mode). Glance has no changed-block API, so the image is still downloaded whole; but the
	// working copy starts as a copy of the base's (a reflink where the filesystem can, else a
	// sparse copy), trusted if its stamp says it was not written since its record was made,
	// else checked block by block, and each 512 KiB block of the download is hashed as it
	// arrives and written only where it differs from the base (a block that became zeros is
	// made a hole). The result is the same bytes as a plain download; the record of this
	// build names the base, and its block map serves chromogenic-ec2-import's delta push. A
	// base that no longer matches its record gives a plain download, and the build says why.
	// The same source is the same server (`instance_id`, `instance_name`), or for an image
	// source the same image, an image of the same name (a series of images), or a snapshot
	// of the server the base captured; a record of another source, of another cloud or
	// region, without a block map, or whose working copy lies in this build's
	// `output_directory` is refused.
	BaseProvenance string `mapstructure:"base_provenance" required:"false"`

	bcommon.ChrootConfig `mapstructure:",squash"`

	ctx        interpolate.Context
	baseRecord *provenance.Record // base_provenance, read in Prepare
}

// Disks (disks).
const (
	DisksRoot = "root"
	DisksAll  = "all"
)

// prepareBase reads base_provenance: a record of an OpenStack build with a working copy
// block map, kept outside output_directory, of the server named (when it says which).
func (c *Config) prepareBase() []error {
	var errs []error
	if c.Mode != "image" {
		errs = append(errs, errors.New(`base_provenance applies to mode = "image" only (it updates the working copy)`))
	}
	r, rerrs := bcommon.ReadBaseProvenance(c.BaseProvenance, []string{"openstack"}, c.OutputDir)
	errs = append(errs, rerrs...)
	if r == nil || len(rerrs) > 0 {
		return errs
	}
	if c.InstanceID != "" && r.Source.Instance != "" && r.Source.Instance != c.InstanceID {
		errs = append(errs, fmt.Errorf("base_provenance %s is from another source: it captured server %s, this build captures server %s: refused", c.BaseProvenance, r.Source.Instance, c.InstanceID))
	}
	if c.Region != "" && r.Source.Region != "" && c.Region != r.Source.Region {
		errs = append(errs, fmt.Errorf("base_provenance %s: captured in region %s, this build captures in %s: refused", c.BaseProvenance, r.Source.Region, c.Region))
	}
	c.baseRecord = r
	return errs
}

// ImageFilter finds a source image.
type ImageFilter struct {
	// Image name (exact).
	Name string `mapstructure:"name"`
	// Owner project ID.
	Owner string `mapstructure:"owner"`
	// Visibility: private, shared, community or public.
	Visibility string `mapstructure:"visibility"`
	// Tags the image must all have.
	Tags []string `mapstructure:"tags"`
	// Properties the image must have, with these values.
	Properties map[string]string `mapstructure:"properties"`
	// Take the newest image when several match. Without it, several matches are an error.
	MostRecent bool `mapstructure:"most_recent"`
}

func (f ImageFilter) empty() bool {
	return f.Name == "" && f.Owner == "" && f.Visibility == "" && len(f.Tags) == 0 && len(f.Properties) == 0
}

func (f ImageFilter) cloud() cloud.ImageFilter {
	return cloud.ImageFilter{Name: f.Name, Owner: f.Owner, Visibility: f.Visibility, Tags: f.Tags,
		Properties: f.Properties, MostRecent: f.MostRecent}
}

// External kernel choices (external_kernel).
const (
	ExternalKernelCarry    = "carry"
	ExternalKernelBootable = "bootable"
)

// Prepare decodes and validates; every error names its field.
func (c *Config) Prepare(raws ...interface{}) error {
	err := config.Decode(c, &config.DecodeOpts{
		PluginType:         BuilderID,
		Interpolate:        true,
		InterpolateContext: &c.ctx,
		InterpolateFilter:  &interpolate.RenderFilter{Exclude: []string{"mount_path"}},
	}, raws...)
	if err != nil {
		return err
	}
	var errs *packersdk.MultiError
	errs = packersdk.MultiErrorAppend(errs, c.AccessConfig.Prepare()...)

	sources := 0
	for _, set := range []bool{c.InstanceID != "", c.InstanceName != "", c.SourceImage != "", c.SourceImageName != "", !c.SourceImageFilter.empty()} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("exactly one of instance_id, instance_name, source_image, source_image_name and source_image_filter is required (%d given)", sources))
	}
	switch c.Mode {
	case "":
		c.Mode = "image"
	case "image":
	case "snapshot":
		if c.InstanceID == "" && c.InstanceName == "" {
			errs = packersdk.MultiErrorAppend(errs, errors.New("mode = \"snapshot\" captures a server: it needs instance_id or instance_name"))
		}
		if c.SkipUpload {
			errs = packersdk.MultiErrorAppend(errs, errors.New("skip_upload applies to mode = \"image\" only"))
		}
	default:
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("mode %q: want image or snapshot", c.Mode))
	}
	if c.ImageName == "" && !c.SkipUpload {
		errs = packersdk.MultiErrorAppend(errs, errors.New("image_name is required"))
	}
	for _, err := range c.ImageConfig.Prepare() {
		errs = packersdk.MultiErrorAppend(errs, err)
	}
	switch c.ExternalKernel {
	case "", ExternalKernelCarry, ExternalKernelBootable:
		if c.ExternalKernel != "" && c.Mode == "snapshot" {
			errs = packersdk.MultiErrorAppend(errs, errors.New("external_kernel applies to mode = \"image\" only (a snapshot keeps the server's kernel_id and ramdisk_id)"))
		}
		if c.ExternalKernel == ExternalKernelBootable && c.SkipUpload {
			errs = packersdk.MultiErrorAppend(errs, errors.New("external_kernel = \"bootable\" prepares the uploaded image: with skip_upload use chromogenic-convert's bootable block"))
		}
		for _, k := range externalKernelProps {
			if _, set := c.Metadata[k]; set && c.ExternalKernel == ExternalKernelBootable {
				errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("metadata %s: external_kernel = \"bootable\" makes an image that boots without one", k))
			}
		}
	default:
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("external_kernel %q: want %s or %s", c.ExternalKernel, ExternalKernelCarry, ExternalKernelBootable))
	}
	if v := c.SourceImageFilter.Visibility; v != "" && !openstackcommon.ValidVisibility(v) {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("source_image_filter.visibility %q: want private, shared, community or public", v))
	}
	if c.StateTimeout == 0 {
		c.StateTimeout = 30 * time.Minute
	} else if c.StateTimeout < 0 {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("state_timeout must be positive"))
	}
	switch c.ImportMethod {
	case "":
		c.ImportMethod = cloud.MethodUpload
	case cloud.MethodUpload, cloud.MethodGlanceDirect:
	default:
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("import_method %q: want %s or %s", c.ImportMethod, cloud.MethodUpload, cloud.MethodGlanceDirect))
	}
	name := c.PackerBuildName
	if name == "" {
		name = "chromogenic-openstack"
	}
	if c.OutputDir == "" {
		c.OutputDir = "output-" + name
	}
	c.OutputDir = filepath.Clean(c.OutputDir)
	if c.BaseProvenance != "" {
		errs = packersdk.MultiErrorAppend(errs, c.prepareBase()...)
	}
	switch c.Disks {
	case "":
		c.Disks = DisksRoot
	case DisksRoot:
	case DisksAll:
		switch {
		case c.Mode != "image":
			errs = packersdk.MultiErrorAppend(errs, errors.New(`disks = "all" applies to mode = "image" only (a snapshot of a server holds its root disk only)`))
		case c.InstanceID == "" && c.InstanceName == "":
			errs = packersdk.MultiErrorAppend(errs, errors.New(`disks = "all" captures the volumes attached to a server: it needs instance_id or instance_name (an image has no attached volumes)`))
		}
		if c.BaseProvenance != "" {
			errs = packersdk.MultiErrorAppend(errs, errors.New(`disks = "all" does not combine with base_provenance yet (it updates the root disk's working copy only): use disks = "root" or drop base_provenance`))
		}
	default:
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("disks %q: want %s or %s", c.Disks, DisksRoot, DisksAll))
	}
	errs = packersdk.MultiErrorAppend(errs, c.ChrootConfig.Prepare(&c.ctx)...)
	if errs != nil && len(errs.Errors) > 0 {
		return errs
	}
	return nil
}
