//go:generate packer-sdc struct-markdown
//go:generate packer-sdc mapstructure-to-hcl2 -type Config

package openstackimport

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/common"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	osbuilder "github.com/chromogenic/packer-plugin-chromogenic/builder/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
)

// Config is the chromogenic-openstack-import post-processor's configuration.
type Config struct {
	common.PackerConfig    `mapstructure:",squash"`
	osbuilder.AccessConfig `mapstructure:",squash"`

	// The name of the image to create in the target cloud.
	ImageName string `mapstructure:"image_name" required:"true"`
	// The disk format to upload: `qcow2` (default), `raw`, `vmdk` or `vhd`. The input is
	// converted on the fly.
	DiskFormat string `mapstructure:"disk_format" required:"false"`
	// `private` (the default), `shared`, `community` or `public`.
	Visibility string `mapstructure:"visibility" required:"false"`
	// Projects to share the image with (visibility `shared`).
	Members []string `mapstructure:"members" required:"false"`
	// Tags of the image.
	Tags []string `mapstructure:"tags" required:"false"`
	// Properties of the image (os_distro, hw_disk_bus...).
	Properties map[string]string `mapstructure:"properties" required:"false"`
	// Minimum disk (GiB) and RAM (MiB) to boot it.
	MinDisk int `mapstructure:"min_disk" required:"false"`
	MinRAM  int `mapstructure:"min_ram" required:"false"`
	// How long to wait for the image to become active. Defaults to `30m`.
	StateTimeout time.Duration `mapstructure:"state_timeout" required:"false"`

	ctx interpolate.Context
}

var diskFormats = map[string]bool{"raw": true, "qcow2": true, "vmdk": true, "vhd": true}
var visibilities = map[string]bool{"private": true, "shared": true, "community": true, "public": true}

// Prepare decodes and validates; every error names its field.
func (c *Config) Prepare(raws ...interface{}) error {
	if err := config.Decode(c, &config.DecodeOpts{
		PluginType: BuilderID, Interpolate: true, InterpolateContext: &c.ctx,
	}, raws...); err != nil {
		return err
	}
	var errs *packersdk.MultiError
	errs = packersdk.MultiErrorAppend(errs, c.AccessConfig.Prepare()...)
	if c.ImageName == "" {
		errs = packersdk.MultiErrorAppend(errs, errors.New("image_name is required"))
	}
	if c.DiskFormat == "" {
		c.DiskFormat = "qcow2"
	}
	if !diskFormats[c.DiskFormat] {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("disk_format %q: want raw, qcow2, vmdk or vhd", c.DiskFormat))
	} else if _, err := diskimage.LookupWriter(c.DiskFormat); err != nil {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("disk_format: %w", err))
	}
	if c.Visibility == "" {
		c.Visibility = "private"
	} else if !visibilities[c.Visibility] {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("visibility %q: want private, shared, community or public", c.Visibility))
	}
	if len(c.Members) > 0 && c.Visibility != "shared" {
		errs = packersdk.MultiErrorAppend(errs, errors.New("members needs visibility = \"shared\""))
	}
	if c.MinDisk < 0 || c.MinRAM < 0 {
		errs = packersdk.MultiErrorAppend(errs, errors.New("min_disk and min_ram must not be negative"))
	}
	if c.StateTimeout == 0 {
		c.StateTimeout = 30 * time.Minute
	} else if c.StateTimeout < 0 {
		errs = packersdk.MultiErrorAppend(errs, errors.New("state_timeout must be positive"))
	}
	if errs != nil && len(errs.Errors) > 0 {
		return errs
	}
	return nil
}
