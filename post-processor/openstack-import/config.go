//go:generate packer-sdc struct-markdown
//go:generate packer-sdc mapstructure-to-hcl2 -type Config,SourceCloud

package openstackimport

import (
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/common"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	openstackcommon "github.com/chromogenic/packer-plugin-chromogenic/common/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/common/postprocess"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
)

// Config is the chromogenic-openstack-import post-processor's configuration.
type Config struct {
	common.PackerConfig          `mapstructure:",squash"`
	openstackcommon.AccessConfig `mapstructure:",squash"`

	// The name of the image to create in the target cloud.
	ImageName string `mapstructure:"image_name" required:"true"`
	// The new image: its disk format (default `qcow2`; with a Glance image as input, its
	// own disk format: no conversion), visibility, members, tags, metadata, min_disk and
	// min_ram, as the chromogenic-openstack builder takes them. The names this
	// post-processor used before (`disk_format`, `visibility`, `members`, `tags`,
	// `properties`, `min_disk`, `min_ram`) are deprecated aliases.
	openstackcommon.ImageConfig `mapstructure:",squash"`
	// How long to wait for the image to become active. Defaults to `30m`.
	StateTimeout time.Duration `mapstructure:"state_timeout" required:"false"`
	// How the data is sent to Glance: `upload` (the default: `PUT /v2/images/{id}/file`)
	// or `glance-direct` (the interoperable image import: the data is staged, then imported,
	// which is what clouds that disable the plain upload accept, and which runs the cloud's
	// import plugins).
	ImportMethod string `mapstructure:"import_method" required:"false"`
	// How to reach the cloud holding the input image, when the input is an image in Glance
	// rather than a local file: an artifact of `chromogenic-openstack` in snapshot mode,
	// of this post-processor, or `source_image`. It takes the same settings as the
	// builder's access (`cloud`, `clouds_file`, `identity_endpoint`, credentials, `region`,
	// ...). The image data then streams from the source Glance to the target Glance, converted
	// on the way when `disk_format` differs from the source's.
	Source SourceCloud `mapstructure:"source" required:"false"`
	// A Glance image ID in the source cloud to push, instead of the input artifact (for
	// example the `id` of a `chromogenic-openstack-image` data source). Needs `source`.
	SourceImage string `mapstructure:"source_image" required:"false"`

	diskFormatSet bool
	shareWith     []string // image_members as project IDs (ResolveMembers)
	ctx           interpolate.Context
}

// HasSource says whether the source block is set.
func (c *Config) HasSource() bool { return c.Source != (SourceCloud{}) }

// SourceCloud is the cloud holding the input image: the settings of the access
// configuration (`cloud`, `clouds_file`, `identity_endpoint`, credentials, `region`...).
type SourceCloud struct {
	openstackcommon.AccessConfig `mapstructure:",squash"`
}

// Prepare decodes and validates; every error names its field.
func (c *Config) Prepare(raws ...interface{}) error {
	return postprocess.Prepare(c, BuilderID, &c.ctx, raws, c.check)
}

// check validates the decoded configuration and fills its defaults.
func (c *Config) check() (errs []error) {
	errs = append(errs, c.AccessConfig.Prepare()...)
	if c.ImageName == "" {
		errs = append(errs, errors.New("image_name is required"))
	}
	errs = append(errs, c.ImageConfig.Prepare()...)
	for _, d := range c.Deprecated() {
		log.Printf("chromogenic-openstack-import: %s", d)
	}
	c.diskFormatSet = c.ImageDiskFormat != ""
	if c.ImageDiskFormat == "" {
		c.ImageDiskFormat = "qcow2"
	}
	if c.StateTimeout == 0 {
		c.StateTimeout = 30 * time.Minute
	} else if c.StateTimeout < 0 {
		errs = append(errs, errors.New("state_timeout must be positive"))
	}
	switch c.ImportMethod {
	case "":
		c.ImportMethod = cloud.MethodUpload
	case cloud.MethodUpload, cloud.MethodGlanceDirect:
	default:
		errs = append(errs, fmt.Errorf("import_method %q: want %s or %s", c.ImportMethod, cloud.MethodUpload, cloud.MethodGlanceDirect))
	}
	if c.HasSource() {
		for _, err := range c.Source.Prepare() {
			errs = append(errs, fmt.Errorf("source: %w", err))
		}
	} else if c.SourceImage != "" {
		errs = append(errs, errors.New("source_image needs a source block saying how to reach its cloud"))
	}
	return errs
}
