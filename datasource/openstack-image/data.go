//go:generate packer-sdc struct-markdown
//go:generate packer-sdc mapstructure-to-hcl2 -type Config,DatasourceOutput

// Package openstackimage is the chromogenic-openstack-image datasource: it looks up a Glance
// image by name, name regex, owner, visibility, tags and properties.
package openstackimage

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/packer-plugin-sdk/common"
	"github.com/zclconf/go-cty/cty"

	"github.com/chromogenic/packer-plugin-chromogenic/common/datasource"
	openstackcommon "github.com/chromogenic/packer-plugin-chromogenic/common/openstack"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
)

// Config selects one image.
type Config struct {
	common.PackerConfig          `mapstructure:",squash"`
	openstackcommon.AccessConfig `mapstructure:",squash"`

	// Exact image name.
	Name string `mapstructure:"name" required:"false"`
	// A regular expression the image name must match.
	NameRegex string `mapstructure:"name_regex" required:"false"`
	// Owner project ID.
	Owner string `mapstructure:"owner" required:"false"`
	// private, shared, community or public.
	Visibility string `mapstructure:"visibility" required:"false"`
	// Tags the image must all have.
	Tags []string `mapstructure:"tags" required:"false"`
	// Properties the image must have, with these values.
	Properties map[string]string `mapstructure:"properties" required:"false"`
	// Take the newest when several images match; otherwise several matches are an error.
	MostRecent bool `mapstructure:"most_recent" required:"false"`
}

// DatasourceOutput is what the datasource gives the template.
type DatasourceOutput struct {
	// The image ID.
	ID string `mapstructure:"id"`
	// The image name.
	Name string `mapstructure:"name"`
	// Its disk format (qcow2, raw...).
	DiskFormat string `mapstructure:"disk_format"`
	// Its size in bytes.
	Size int64 `mapstructure:"size"`
	// Its visibility.
	Visibility string `mapstructure:"visibility"`
	// The owner project ID.
	Owner string `mapstructure:"owner"`
	// Its tags.
	Tags []string `mapstructure:"tags"`
	// Its properties, as strings.
	Properties map[string]string `mapstructure:"properties"`
	// When it was created (RFC 3339).
	CreatedAt string `mapstructure:"created_at"`
	// Its status.
	Status string `mapstructure:"status"`
}

// Datasource is chromogenic-openstack-image.
type Datasource struct {
	config Config
	re     *regexp.Regexp
}

func (d *Datasource) ConfigSpec() hcldec.ObjectSpec { return d.config.FlatMapstructure().HCL2Spec() }

func (d *Datasource) OutputSpec() hcldec.ObjectSpec {
	return (&DatasourceOutput{}).FlatMapstructure().HCL2Spec()
}

func (d *Datasource) Configure(raws ...interface{}) error {
	return datasource.Configure(&d.config, raws, d.check)
}

// check validates the decoded configuration (compiling name_regex); every error names its
// field.
func (d *Datasource) check() (errs []error) {
	c := &d.config
	errs = append(errs, c.AccessConfig.Prepare()...)
	if c.Name == "" && c.NameRegex == "" && c.Owner == "" && c.Visibility == "" && len(c.Tags) == 0 && len(c.Properties) == 0 {
		errs = append(errs, errors.New("at least one of name, name_regex, owner, visibility, tags or properties is required"))
	}
	if c.NameRegex != "" {
		re, err := regexp.Compile(c.NameRegex)
		if err != nil {
			errs = append(errs, fmt.Errorf("name_regex: %w", err))
		}
		d.re = re
	}
	switch c.Visibility {
	case "", "private", "shared", "community", "public":
	default:
		errs = append(errs, fmt.Errorf("visibility %q: want private, shared, community or public", c.Visibility))
	}
	return errs
}

func (d *Datasource) Execute() (cty.Value, error) {
	return datasource.Execute(d.OutputSpec(), d.lookup)
}

// lookup finds the one image the configuration selects.
func (d *Datasource) lookup(ctx context.Context) (interface{}, error) {
	clients, err := cloud.Connect(ctx, d.config.Auth())
	if err != nil {
		return nil, err
	}
	c := &d.config
	found, err := cloud.FindImages(ctx, clients.Image, cloud.ImageFilter{Name: c.Name, Owner: c.Owner,
		Visibility: c.Visibility, Tags: c.Tags, Properties: c.Properties})
	if err != nil {
		return nil, err
	}
	var match []int
	for i, img := range found {
		if d.re == nil || d.re.MatchString(img.Name) {
			match = append(match, i)
		}
	}
	switch {
	case len(match) == 0:
		return nil, errors.New("no image matches")
	case len(match) > 1 && !c.MostRecent:
		return nil, fmt.Errorf("%d images match; narrow the filter or set most_recent", len(match))
	}
	img := found[match[0]] // FindImages sorts newest first
	props := map[string]string{}
	for k, v := range img.Properties {
		if v != nil {
			props[k] = fmt.Sprint(v)
		}
	}
	tags := append([]string(nil), img.Tags...)
	sort.Strings(tags)
	return DatasourceOutput{ID: img.ID, Name: img.Name, DiskFormat: img.DiskFormat, Size: img.SizeBytes,
		Visibility: string(img.Visibility), Owner: img.Owner, Tags: tags, Properties: props,
		CreatedAt: img.CreatedAt.Format(time.RFC3339), Status: string(img.Status)}, nil
}
