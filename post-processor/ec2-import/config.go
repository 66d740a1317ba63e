//go:generate packer-sdc struct-markdown
//go:generate packer-sdc mapstructure-to-hcl2 -type Config

package ec2import

import (
	"errors"
	"fmt"

	"github.com/hashicorp/packer-plugin-sdk/common"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	ec2common "github.com/chromogenic/packer-plugin-chromogenic/common/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/common/postprocess"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
)

// Config is the chromogenic-ec2-import post-processor's configuration.
type Config struct {
	common.PackerConfig    `mapstructure:",squash"`
	ec2common.AccessConfig `mapstructure:",squash"`

	ec2common.RegisterConfig   `mapstructure:",squash"`
	ec2common.EncryptionConfig `mapstructure:",squash"`
	ec2common.EucaImageConfig  `mapstructure:",squash"`
	ec2common.ShareConfig      `mapstructure:",squash"`
	// The architecture of the guest: `x86_64` (the default), `arm64` or `i386`.
	Architecture string `mapstructure:"architecture" required:"false"`
	// The cloud is Eucalyptus: this block (even empty) makes the import go the Eucalyptus
	// way, whatever the shape of `custom_endpoint_ec2` (which it requires); without it the
	// cloud is AWS or AWS-compatible. It holds the keys, the bucket and how to register.
	Eucalyptus *ec2common.EucalyptusConfig `mapstructure:"eucalyptus" required:"false"`
	// The provenance record of an earlier push (the `<image>.ec2-import.provenance.json`
	// this post-processor writes beside its input): a delta push. The new root snapshot
	// starts from that push's snapshot (StartSnapshot's ParentSnapshotId) and only the
	// blocks whose SHA-256 differs from the record's block map are written, zeros included
	// where the parent held data. The child takes the parent's encryption and key, so the
	// encryption asked must be the parent's; when it is not, or the parent snapshot is gone,
	// or it is of another region, the image is pushed in full and the build says why. AWS
	// only. Without it, a record beside the input naming a pushed snapshot of this region is
	// used the same way.
	BaseProvenance string `mapstructure:"base_provenance" required:"false"`

	ctx        interpolate.Context
	baseRecord *provenance.Record
}

// Prepare decodes and validates; every error names its field.
func (c *Config) Prepare(raws ...interface{}) error {
	return postprocess.Prepare(c, BuilderID, &c.ctx, raws, c.check)
}

// check validates the decoded configuration and fills its defaults.
func (c *Config) check() (errs []error) {
	ec2common.ApplyEucarc(&c.AccessConfig, c.Eucalyptus, cloud.ReadEucarc(nil)) // a eucalyptus block only
	errs = append(errs, c.AccessConfig.Prepare()...)
	euca := c.IsEucalyptus()
	errs = append(errs, c.AccessConfig.PrepareCloud(euca)...)
	errs = append(errs, c.RegisterConfig.Prepare(true, euca)...)
	errs = append(errs, c.EncryptionConfig.Prepare(euca)...)
	if len(c.RunTags) > 0 {
		errs = append(errs, errors.New("run_tags: the import creates nothing temporary to tag (tags and snapshot_tags tag what it makes)"))
	}
	errs = append(errs, c.EucaImageConfig.Prepare(euca, false)...)
	if euca {
		errs = append(errs, c.Eucalyptus.Prepare(false, true)...)
	}
	errs = append(errs, c.ShareConfig.Prepare(c.Region, euca, !euca || c.Eucalyptus.Register == "import-volume", c.SkipRegionValidation)...)
	switch c.Architecture {
	case "":
		c.Architecture = "x86_64"
	case "x86_64", "arm64", "i386":
	default:
		errs = append(errs, fmt.Errorf("architecture %q: want x86_64, arm64 or i386", c.Architecture))
	}
	if c.Architecture == "arm64" && c.BootMode == "legacy-bios" {
		errs = append(errs, errors.New("boot_mode: arm64 images boot with uefi only"))
	}
	if c.BaseProvenance != "" {
		r, err := provenance.Read(c.BaseProvenance)
		switch {
		case euca:
			errs = append(errs, errors.New("base_provenance: a delta push needs the EBS direct API (AWS), not Eucalyptus"))
		case err != nil:
			errs = append(errs, fmt.Errorf("base_provenance: %w", err))
		default:
			if _, err := pushedBase(r); err != nil {
				errs = append(errs, fmt.Errorf("base_provenance %s: %w", c.BaseProvenance, err))
			}
			c.baseRecord = r
		}
	}
	if c.RootDeviceName == "" {
		c.RootDeviceName = "/dev/xvda"
		if euca {
			c.RootDeviceName = "/dev/sda"
		}
	}
	return errs
}

// IsEucalyptus tells whether the template chose Eucalyptus (a `eucalyptus` block).
func (c *Config) IsEucalyptus() bool { return c.Eucalyptus != nil }
