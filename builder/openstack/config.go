//go:generate packer-sdc struct-markdown
//go:generate packer-sdc mapstructure-to-hcl2 -type Config,ImageFilter

package openstack

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/common"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	openstackcommon "github.com/chromogenic/packer-plugin-chromogenic/common/openstack"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
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
	// The disk format of the uploaded image: `raw`, `qcow2`, `vmdk` or `vhd`. Defaults to the
	// format of the source (the snapshot's or the source image's).
	ImageDiskFormat string `mapstructure:"image_disk_format" required:"false"`
	// `private` (the default), `shared`, `community` or `public`.
	ImageVisibility string `mapstructure:"image_visibility" required:"false"`
	// Projects to share the new image with (visibility `shared`).
	ImageMembers []string `mapstructure:"image_members" required:"false"`
	// Tags of the new image.
	ImageTags []string `mapstructure:"image_tags" required:"false"`
	// Properties of the new image, on top of those copied from the source (os_distro,
	// os_version, architecture, hw_*...).
	Metadata map[string]string `mapstructure:"metadata" required:"false"`
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

	// Where the working copy is kept. Defaults to `output-<build name>`.
	OutputDir string `mapstructure:"output_directory" required:"false"`

	bcommon.ChrootConfig `mapstructure:",squash"`

	ctx interpolate.Context
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

// diskFormats are the Glance disk formats the image engine writes (its disk image formats,
// not containers).
var diskFormats = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range diskimage.DiskWriters() {
		m[f] = true
	}
	return m
}()
var visibilities = map[string]bool{"private": true, "shared": true, "community": true, "public": true}

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
	if c.ImageDiskFormat != "" && !diskFormats[c.ImageDiskFormat] {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("image_disk_format %q: want %s", c.ImageDiskFormat, strings.Join(diskimage.DiskWriters(), ", ")))
	}
	if c.ImageVisibility == "" {
		c.ImageVisibility = "private"
	} else if !visibilities[c.ImageVisibility] {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("image_visibility %q: want private, shared, community or public", c.ImageVisibility))
	}
	if len(c.ImageMembers) > 0 && c.ImageVisibility != "shared" {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("image_members needs image_visibility = \"shared\""))
	}
	if v := c.SourceImageFilter.Visibility; v != "" && !visibilities[v] {
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
	errs = packersdk.MultiErrorAppend(errs, c.ChrootConfig.Prepare(&c.ctx)...)
	if errs != nil && len(errs.Errors) > 0 {
		return errs
	}
	return nil
}
