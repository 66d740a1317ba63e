//go:generate packer-sdc struct-markdown
//go:generate packer-sdc mapstructure-to-hcl2 -type Config,AMIFilter

package ec2

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/common"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
)

// Config is the chromogenic-ec2 builder's configuration.
type Config struct {
	common.PackerConfig `mapstructure:",squash"`
	AccessConfig        `mapstructure:",squash"`

	// The running (or stopped) instance to capture, by ID. Exactly one of `instance_id`,
	// `instance_filter`, `source_ami` and `source_ami_filter` is required.
	InstanceID string `mapstructure:"instance_id" required:"false"`
	// The instance to capture, found by EC2 filters (`tag:Name = "web"`); exactly one
	// instance that is not terminated must match.
	InstanceFilter map[string]string `mapstructure:"instance_filter" required:"false"`
	// Capture the instance without rebooting it first. Defaults to false: EC2 reboots the
	// instance so that its file systems are consistent.
	NoReboot bool `mapstructure:"no_reboot" required:"false"`
	// Keep the intermediate AMI and snapshots CreateImage made of the instance. Defaults to
	// false: they are deleted once the data is home.
	KeepIntermediateImage bool `mapstructure:"keep_intermediate_image" required:"false"`
	// An existing EBS-backed AMI to start from, by ID.
	SourceAMI string `mapstructure:"source_ami" required:"false"`
	// An existing AMI to start from, found by filters and owners.
	SourceAMIFilter AMIFilter `mapstructure:"source_ami_filter" required:"false"`

	// The name of the AMI to register (3 to 128 characters).
	AMIName string `mapstructure:"ami_name" required:"true"`
	// Its description.
	AMIDescription string `mapstructure:"ami_description" required:"false"`
	// Tags of the new AMI.
	Tags map[string]string `mapstructure:"tags" required:"false"`
	// Tags of the new snapshot. Defaults to `tags`.
	SnapshotTags map[string]string `mapstructure:"snapshot_tags" required:"false"`
	// Boot mode of the new AMI: `legacy-bios`, `uefi` or `uefi-preferred`. Defaults to the
	// source image's.
	BootMode string `mapstructure:"boot_mode" required:"false"`
	// ENA support of the new AMI. Defaults to the source image's.
	ENASupport *bool `mapstructure:"ena_support" required:"false"`
	// Root device name of the new AMI. Defaults to the source image's (`/dev/xvda`).
	RootDeviceName string `mapstructure:"root_device_name" required:"false"`
	// The EBS volume type of the root device. Defaults to `gp3`.
	VolumeType string `mapstructure:"volume_type" required:"false"`
	// `v2.0` to require IMDSv2 on instances of the new AMI.
	IMDSSupport string `mapstructure:"imds_support" required:"false"`
	// Only bring the image home and provision it: nothing is registered; the artifact is the
	// local working copy, for post-processors.
	SkipRegister bool `mapstructure:"skip_register" required:"false"`

	// Blocks transferred in parallel by the EBS direct API. Defaults to 16.
	EBSConcurrency int `mapstructure:"ebs_concurrency" required:"false"`
	// How long to wait for an image or a snapshot to become available. Defaults to `30m`.
	StateTimeout time.Duration `mapstructure:"state_timeout" required:"false"`
	// Where the working copy is kept. Defaults to `output-<build name>`.
	OutputDir string `mapstructure:"output_directory" required:"false"`

	bcommon.ChrootConfig `mapstructure:",squash"`

	ctx interpolate.Context
}

// AMIFilter finds an AMI, as the amazon plugins' `source_ami_filter` does.
type AMIFilter struct {
	// EC2 DescribeImages filters, such as `name = "debian-12-*"` and
	// `virtualization-type = "hvm"`.
	Filters map[string]string `mapstructure:"filters"`
	// Owners: account IDs, `self`, or aliases such as `amazon`. Required, so that an image
	// from an unexpected account is never picked.
	Owners []string `mapstructure:"owners"`
	// Take the newest image when several match. Without it, several matches are an error.
	MostRecent bool `mapstructure:"most_recent"`
}

func (f AMIFilter) empty() bool { return len(f.Filters) == 0 && len(f.Owners) == 0 }

// Cloud is the adapter's form of the filter.
func (f AMIFilter) Cloud() cloud.Filter {
	return cloud.Filter{Filters: single(f.Filters), Owners: f.Owners, MostRecent: f.MostRecent}
}

func single(m map[string]string) map[string][]string {
	out := map[string][]string{}
	for k, v := range m {
		out[k] = []string{v}
	}
	return out
}

var amiName = regexp.MustCompile(`^[a-zA-Z0-9()\[\] ./\-'@_]{3,128}$`)

var bootModes = map[string]bool{"legacy-bios": true, "uefi": true, "uefi-preferred": true}

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
	if err := c.AccessConfig.RequireEBSDirect(); err != nil {
		errs = packersdk.MultiErrorAppend(errs, err)
	}
	instance := c.InstanceID != "" || len(c.InstanceFilter) > 0
	sources := 0
	for _, set := range []bool{c.InstanceID != "", len(c.InstanceFilter) > 0, c.SourceAMI != "", !c.SourceAMIFilter.empty()} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("exactly one of instance_id, instance_filter, source_ami and source_ami_filter is required (%d given)", sources))
	}
	if !c.SourceAMIFilter.empty() && len(c.SourceAMIFilter.Owners) == 0 {
		errs = packersdk.MultiErrorAppend(errs, errors.New("source_ami_filter.owners is required: name the accounts (or self, amazon...) the image may come from"))
	}
	if !instance && c.NoReboot {
		errs = packersdk.MultiErrorAppend(errs, errors.New("no_reboot applies to instance captures (instance_id or instance_filter) only"))
	}
	if !instance && c.KeepIntermediateImage {
		errs = packersdk.MultiErrorAppend(errs, errors.New("keep_intermediate_image applies to instance captures (instance_id or instance_filter) only"))
	}
	if !c.SkipRegister {
		if c.AMIName == "" {
			errs = packersdk.MultiErrorAppend(errs, errors.New("ami_name is required (or set skip_register)"))
		} else if !amiName.MatchString(c.AMIName) {
			errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("ami_name %q: 3 to 128 letters, digits and ()[] ./-'@_", c.AMIName))
		}
	}
	if c.BootMode != "" && !bootModes[c.BootMode] {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("boot_mode %q: want legacy-bios, uefi or uefi-preferred", c.BootMode))
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
	if c.OutputDir == "" {
		c.OutputDir = "output-" + buildName(c)
	}
	c.OutputDir = filepath.Clean(c.OutputDir)
	errs = packersdk.MultiErrorAppend(errs, c.ChrootConfig.Prepare(&c.ctx)...)
	if errs != nil && len(errs.Errors) > 0 {
		return errs
	}
	return nil
}

func buildName(c *Config) string {
	if c.PackerBuildName != "" {
		return c.PackerBuildName
	}
	return "chromogenic-ec2"
}
