//go:generate packer-sdc struct-markdown
//go:generate packer-sdc mapstructure-to-hcl2 -type Config,DatasourceOutput

// Package ec2image is the chromogenic-ec2-image datasource: it looks up an AMI by EC2 filters
// and owners, as the amazon-ami datasource does, for a chromogenic-ec2 `source_ami`.
package ec2image

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/packer-plugin-sdk/common"
	"github.com/zclconf/go-cty/cty"

	"github.com/chromogenic/packer-plugin-chromogenic/common/datasource"
	ec2common "github.com/chromogenic/packer-plugin-chromogenic/common/ec2"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
)

// Config selects one AMI.
type Config struct {
	common.PackerConfig    `mapstructure:",squash"`
	ec2common.AccessConfig `mapstructure:",squash"`

	// EC2 DescribeImages filters, such as `name = "debian-12-amd64-*"`,
	// `architecture = "x86_64"` or `tag:Team = "web"`. Values may use `*` and `?`.
	Filters map[string]string `mapstructure:"filters" required:"false"`
	// Owners of the image: account IDs, `self`, or aliases such as `amazon`. Required, so that
	// an image from an unexpected account is never picked.
	Owners []string `mapstructure:"owners" required:"true"`
	// Take the newest image when several match; otherwise several matches are an error.
	MostRecent bool `mapstructure:"most_recent" required:"false"`
}

// DatasourceOutput is what the datasource gives the template.
type DatasourceOutput struct {
	// The AMI ID.
	ID string `mapstructure:"id"`
	// The AMI name.
	Name string `mapstructure:"name"`
	// When it was created (RFC 3339).
	CreationDate string `mapstructure:"creation_date"`
	// The owner's account ID.
	Owner string `mapstructure:"owner"`
	// The owner's alias (`amazon`...), if any.
	OwnerName string `mapstructure:"owner_name"`
	// Its architecture.
	Architecture string `mapstructure:"architecture"`
	// Its boot mode, if set.
	BootMode string `mapstructure:"boot_mode"`
	// Its root device name.
	RootDeviceName string `mapstructure:"root_device_name"`
	// The snapshot of its root device.
	RootSnapshotID string `mapstructure:"root_snapshot_id"`
	// Its tags.
	Tags map[string]string `mapstructure:"tags"`
}

// Datasource is chromogenic-ec2-image.
type Datasource struct {
	config Config
}

func (d *Datasource) ConfigSpec() hcldec.ObjectSpec { return d.config.FlatMapstructure().HCL2Spec() }

func (d *Datasource) OutputSpec() hcldec.ObjectSpec {
	return (&DatasourceOutput{}).FlatMapstructure().HCL2Spec()
}

func (d *Datasource) Configure(raws ...interface{}) error {
	return datasource.Configure(&d.config, raws, d.config.check)
}

// check validates the decoded configuration; every error names its field.
func (c *Config) check() (errs []error) {
	errs = append(errs, c.AccessConfig.Prepare()...)
	if len(c.Filters) == 0 {
		errs = append(errs, errors.New("filters: at least one filter is required"))
	}
	if len(c.Owners) == 0 {
		errs = append(errs, errors.New("owners is required: name the accounts (or self, amazon...) the image may come from"))
	}
	return errs
}

func (d *Datasource) Execute() (cty.Value, error) {
	return datasource.Execute(d.OutputSpec(), d.lookup)
}

// lookup finds the one AMI the configuration selects.
func (d *Datasource) lookup(ctx context.Context) (interface{}, error) {
	c := &d.config
	cl, err := cloud.Connect(ctx, c.Access(4, false))
	if err != nil {
		return nil, err
	}
	if err := c.ValidateRegions(ctx, cl); err != nil {
		return nil, err
	}
	f := cloud.Filter{Owners: c.Owners, MostRecent: c.MostRecent, Filters: map[string][]string{}}
	for k, v := range c.Filters {
		f.Filters[k] = []string{v}
	}
	img, err := cloud.FindImage(ctx, cl.EC2, f)
	if err != nil {
		return nil, fmt.Errorf("chromogenic-ec2-image: %w", err)
	}
	tags := map[string]string{}
	for _, t := range img.Tags {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	snap, _, _ := cloud.RootSnapshot(img)
	return DatasourceOutput{
		ID: aws.ToString(img.ImageId), Name: aws.ToString(img.Name), CreationDate: aws.ToString(img.CreationDate),
		Owner: aws.ToString(img.OwnerId), OwnerName: aws.ToString(img.ImageOwnerAlias),
		Architecture: string(img.Architecture), BootMode: string(img.BootMode),
		RootDeviceName: aws.ToString(img.RootDeviceName), RootSnapshotID: snap, Tags: tags,
	}, nil
}
