//go:generate packer-sdc struct-markdown
//go:generate packer-sdc mapstructure-to-hcl2 -type Config

package local

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/packer-plugin-sdk/common"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
)

// Config is the chromogenic-local builder's configuration.
type Config struct {
	common.PackerConfig `mapstructure:",squash"`
	// The disk image to start from: raw or qcow2 (VMDK, VHD, VHDX and VDI as the image engine
	// reads them). It is only ever read. Required, unless `source_paths` gives several disks.
	SourcePath string `mapstructure:"source_path" required:"true"`
	// The format of `source_path`. By default it is detected from the file's content.
	SourceFormat string `mapstructure:"source_format" required:"false"`
	// Where the working copy (a sparse raw disk) is written. Defaults to
	// `output-<build name>`. It must not exist unless Packer runs with `-force`.
	OutputDir string `mapstructure:"output_directory" required:"false"`
	// The working copy's file name inside `output_directory`. Defaults to
	// `<build name>.raw`.
	ImageName string `mapstructure:"image_name" required:"false"`

	SourcePathsConfig `mapstructure:",squash"`

	bcommon.ChrootConfig `mapstructure:",squash"`

	ctx interpolate.Context
}

// Prepare decodes and validates the configuration. Every error names its field.
func (c *Config) Prepare(raws ...interface{}) ([]string, error) {
	err := config.Decode(c, &config.DecodeOpts{
		PluginType:         BuilderID,
		Interpolate:        true,
		InterpolateContext: &c.ctx,
		InterpolateFilter: &interpolate.RenderFilter{
			Exclude: []string{"mount_path"},
		},
	}, raws...)
	if err != nil {
		return nil, err
	}
	var errs *packersdk.MultiError
	if len(c.SourcePaths) > 0 {
		errs = packersdk.MultiErrorAppend(errs, c.checkSourcePaths()...)
	} else if c.SourcePath == "" {
		errs = packersdk.MultiErrorAppend(errs, errors.New("source_path is required"))
	} else if err := checkSource(c.SourcePath, c.SourceFormat); err != nil {
		errs = packersdk.MultiErrorAppend(errs, err)
	}
	name := c.PackerBuildName
	if name == "" {
		name = "chromogenic-local"
	}
	if c.OutputDir == "" {
		c.OutputDir = "output-" + name
	}
	if c.ImageName == "" {
		c.ImageName = name + ".raw"
	}
	if filepath.Base(c.ImageName) != c.ImageName {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("image_name %q must be a file name, not a path", c.ImageName))
	}
	errs = packersdk.MultiErrorAppend(errs, c.ChrootConfig.Prepare(&c.ctx)...)
	if errs != nil && len(errs.Errors) > 0 {
		return nil, errs
	}
	return nil, nil
}

// checkSource opens the source to validate path and format, and closes it again.
func checkSource(path, format string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("source_path: %w", err)
	}
	if fi.IsDir() {
		return fmt.Errorf("source_path: %s is a directory, not a disk image", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("source_path: %w", err)
	}
	f.Close()
	img, err := diskimage.OpenFormat(path, format)
	if err != nil {
		if format != "" && !knownFormat(format) {
			return fmt.Errorf("source_format: unknown format %q (known: %v)", format, diskimage.Formats())
		}
		return fmt.Errorf("source_path: %w", err)
	}
	return img.Close()
}

func knownFormat(f string) bool {
	if f == "auto" {
		return true
	}
	for _, k := range diskimage.Formats() {
		if k == f {
			return true
		}
	}
	return false
}
