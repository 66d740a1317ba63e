//go:generate packer-sdc struct-markdown
//go:generate packer-sdc mapstructure-to-hcl2 -type Config

package ec2import

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/common"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	ec2builder "github.com/chromogenic/packer-plugin-chromogenic/builder/ec2"
)

// Config is the chromogenic-ec2-import post-processor's configuration.
type Config struct {
	common.PackerConfig     `mapstructure:",squash"`
	ec2builder.AccessConfig `mapstructure:",squash"`

	// The name of the AMI to register (3 to 128 characters).
	AMIName string `mapstructure:"ami_name" required:"true"`
	// Its description.
	AMIDescription string `mapstructure:"ami_description" required:"false"`
	// Tags of the new AMI.
	Tags map[string]string `mapstructure:"tags" required:"false"`
	// Tags of the new snapshot. Defaults to `tags`.
	SnapshotTags map[string]string `mapstructure:"snapshot_tags" required:"false"`
	// The architecture of the guest: `x86_64` (the default), `arm64` or `i386`.
	Architecture string `mapstructure:"architecture" required:"false"`
	// Boot mode: `legacy-bios`, `uefi` or `uefi-preferred`. Defaults to the region's default
	// (legacy-bios for x86_64); arm64 needs `uefi`.
	BootMode string `mapstructure:"boot_mode" required:"false"`
	// Mark the AMI as supporting ENA (Nitro instance types). The guest needs the ENA and NVMe
	// drivers: nothing is injected on this path.
	ENASupport bool `mapstructure:"ena_support" required:"false"`
	// The root device name. Defaults to `/dev/xvda`.
	RootDeviceName string `mapstructure:"root_device_name" required:"false"`
	// The EBS volume type of the root device. Defaults to `gp3`.
	VolumeType string `mapstructure:"volume_type" required:"false"`
	// `v2.0` to require IMDSv2 on instances of the new AMI.
	IMDSSupport string `mapstructure:"imds_support" required:"false"`
	// Blocks written in parallel by the EBS direct API. Defaults to 16.
	EBSConcurrency int `mapstructure:"ebs_concurrency" required:"false"`
	// How long to wait for the snapshot and the AMI. Defaults to `30m`.
	StateTimeout time.Duration `mapstructure:"state_timeout" required:"false"`

	ctx interpolate.Context
}

var amiName = regexp.MustCompile(`^[a-zA-Z0-9()\[\] ./\-'@_]{3,128}$`)

// Prepare decodes and validates; every error names its field.
func (c *Config) Prepare(raws ...interface{}) error {
	if err := config.Decode(c, &config.DecodeOpts{
		PluginType: BuilderID, Interpolate: true, InterpolateContext: &c.ctx,
	}, raws...); err != nil {
		return err
	}
	var errs *packersdk.MultiError
	errs = packersdk.MultiErrorAppend(errs, c.AccessConfig.Prepare()...)
	if err := c.AccessConfig.RequireEBSDirect(); err != nil {
		errs = packersdk.MultiErrorAppend(errs, err)
	}
	if c.AMIName == "" {
		errs = packersdk.MultiErrorAppend(errs, errors.New("ami_name is required"))
	} else if !amiName.MatchString(c.AMIName) {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("ami_name %q: 3 to 128 letters, digits and ()[] ./-'@_", c.AMIName))
	}
	switch c.Architecture {
	case "":
		c.Architecture = "x86_64"
	case "x86_64", "arm64", "i386":
	default:
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("architecture %q: want x86_64, arm64 or i386", c.Architecture))
	}
	switch c.BootMode {
	case "", "legacy-bios", "uefi", "uefi-preferred":
	default:
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("boot_mode %q: want legacy-bios, uefi or uefi-preferred", c.BootMode))
	}
	if c.Architecture == "arm64" && c.BootMode == "legacy-bios" {
		errs = packersdk.MultiErrorAppend(errs, errors.New("boot_mode: arm64 images boot with uefi only"))
	}
	if c.RootDeviceName == "" {
		c.RootDeviceName = "/dev/xvda"
	}
	switch c.VolumeType {
	case "":
		c.VolumeType = "gp3"
	case "gp2", "gp3", "io1", "io2", "st1", "sc1", "standard":
	default:
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("volume_type %q: want gp3, gp2, io1, io2, st1, sc1 or standard", c.VolumeType))
	}
	if c.IMDSSupport != "" && c.IMDSSupport != "v2.0" {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("imds_support %q: the only value is v2.0", c.IMDSSupport))
	}
	if c.SnapshotTags == nil {
		c.SnapshotTags = c.Tags
	}
	if c.EBSConcurrency == 0 {
		c.EBSConcurrency = 16
	} else if c.EBSConcurrency < 1 || c.EBSConcurrency > 1000 {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("ebs_concurrency %d: want 1 to 1000", c.EBSConcurrency))
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
