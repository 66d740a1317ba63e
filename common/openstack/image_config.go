//go:generate packer-sdc struct-markdown
//go:generate packer-sdc mapstructure-to-hcl2 -type ImageConfig

package openstackcommon

import (
	"errors"
	"fmt"
	"strings"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
)

// ImageConfig is what the new Glance image is like: the options chromogenic-openstack and
// chromogenic-openstack-import share, named as packer-plugin-openstack's builder names them
// (image_visibility, image_members, image_disk_format, image_tags, metadata, image_min_disk).
// The names chromogenic-openstack-import used before (visibility, members, disk_format, tags,
// properties, min_disk, min_ram) are still accepted, as deprecated aliases: Prepare folds
// them into the canonical fields.
type ImageConfig struct {
	// The disk format of the new image: `raw`, `qcow2`, `vmdk` or `vhd`; the data is converted
	// on the way. Defaults to the format of the source when it is one of those (a Glance
	// image: the builder's source image or snapshot, the post-processor's `source_image`),
	// else `qcow2`. Alias (deprecated): `disk_format`.
	ImageDiskFormat string `mapstructure:"image_disk_format" required:"false"`
	// `private` (the default), `shared`, `community` or `public`. The image gets it only once
	// it is active and checked: until then it is private. Alias (deprecated): `visibility`.
	ImageVisibility string `mapstructure:"image_visibility" required:"false"`
	// Projects to share the new image with (needs `image_visibility = "shared"`), by ID or by
	// name. A name is looked up in Keystone (a project list by name, which Keystone's default
	// policy allows an admin or a domain reader): a name that matches projects in several
	// domains is an error naming them; `domain/name` (domain name or ID) picks one. When
	// Keystone refuses to list the cloud's projects, the user's own projects are searched by
	// name, and a 32-hex-digit entry is taken as an ID as given. Any other entry Keystone does
	// not know is an error, before anything is uploaded. Alias (deprecated): `members`.
	ImageMembers []string `mapstructure:"image_members" required:"false"`
	// Tags of the new image. Alias (deprecated): `tags`.
	ImageTags []string `mapstructure:"image_tags" required:"false"`
	// Properties of the new image (os_distro, hw_disk_bus...), on top of those carried from
	// the source Glance image (os_distro, os_version, architecture, hw_*...). Alias
	// (deprecated): `properties`.
	Metadata map[string]string `mapstructure:"metadata" required:"false"`
	// The smallest root disk, in GiB, a server booted from the image needs (Glance's
	// min_disk: Nova refuses flavors with a smaller disk). Defaults to the source Glance
	// image's min_disk, raised to the new image's virtual size when that is larger; 0 with a
	// source that has none. A value below the new image's virtual size fails the build
	// before the upload. Alias (deprecated): `min_disk`.
	ImageMinDisk int `mapstructure:"image_min_disk" required:"false"`
	// The least memory, in MiB, a server booted from the image needs (Glance's min_ram: Nova
	// refuses smaller flavors). Defaults to the source Glance image's min_ram (0 without).
	// Alias (deprecated): `min_ram`.
	ImageMinRAM int `mapstructure:"image_min_ram" required:"false"`

	// Deprecated aliases, folded into the fields above by Prepare.
	DiskFormatAlias string            `mapstructure:"disk_format" undocumented:"true"`
	VisibilityAlias string            `mapstructure:"visibility" undocumented:"true"`
	MembersAlias    []string          `mapstructure:"members" undocumented:"true"`
	TagsAlias       []string          `mapstructure:"tags" undocumented:"true"`
	PropertiesAlias map[string]string `mapstructure:"properties" undocumented:"true"`
	MinDiskAlias    int               `mapstructure:"min_disk" undocumented:"true"`
	MinRAMAlias     int               `mapstructure:"min_ram" undocumented:"true"`

	deprecated []string
}

// Visibilities are Glance's image visibilities.
var Visibilities = []string{"private", "shared", "community", "public"}

// Prepare folds the deprecated aliases into the canonical fields (both set is an error
// naming both), fills the default visibility and validates: every error names its field.
// Deprecated lists the aliases used.
func (c *ImageConfig) Prepare() (errs []error) {
	c.deprecated = nil
	fold := func(canonical, alias string, set, aliasSet bool, move func()) {
		if !aliasSet {
			return
		}
		if set {
			errs = append(errs, fmt.Errorf("%s and %s are the same option (%s is its deprecated name): set only %s", canonical, alias, alias, canonical))
			return
		}
		move()
		c.deprecated = append(c.deprecated, fmt.Sprintf("%s is deprecated: use %s", alias, canonical))
	}
	fold("image_disk_format", "disk_format", c.ImageDiskFormat != "", c.DiskFormatAlias != "", func() { c.ImageDiskFormat = c.DiskFormatAlias })
	fold("image_visibility", "visibility", c.ImageVisibility != "", c.VisibilityAlias != "", func() { c.ImageVisibility = c.VisibilityAlias })
	fold("image_members", "members", c.ImageMembers != nil, c.MembersAlias != nil, func() { c.ImageMembers = c.MembersAlias })
	fold("image_tags", "tags", c.ImageTags != nil, c.TagsAlias != nil, func() { c.ImageTags = c.TagsAlias })
	fold("metadata", "properties", c.Metadata != nil, c.PropertiesAlias != nil, func() { c.Metadata = c.PropertiesAlias })
	fold("image_min_disk", "min_disk", c.ImageMinDisk != 0, c.MinDiskAlias != 0, func() { c.ImageMinDisk = c.MinDiskAlias })
	fold("image_min_ram", "min_ram", c.ImageMinRAM != 0, c.MinRAMAlias != 0, func() { c.ImageMinRAM = c.MinRAMAlias })

	if f := c.ImageDiskFormat; f != "" {
		known := false
		for _, w := range diskimage.DiskWriters() {
			known = known || w == f
		}
		if !known {
			errs = append(errs, fmt.Errorf("image_disk_format %q: want %s", f, strings.Join(diskimage.DiskWriters(), ", ")))
		} else if _, err := diskimage.LookupWriter(f); err != nil {
			errs = append(errs, fmt.Errorf("image_disk_format: %w", err))
		}
	}
	if c.ImageVisibility == "" {
		c.ImageVisibility = "private"
	} else if !ValidVisibility(c.ImageVisibility) {
		errs = append(errs, fmt.Errorf("image_visibility %q: want %s", c.ImageVisibility, strings.Join(Visibilities, ", ")))
	}
	if len(c.ImageMembers) > 0 && c.ImageVisibility != "shared" {
		errs = append(errs, fmt.Errorf("image_members needs image_visibility = \"shared\" (it is %q)", c.ImageVisibility))
	}
	seen := map[string]bool{}
	for i, m := range c.ImageMembers {
		switch {
		case strings.TrimSpace(m) == "":
			errs = append(errs, fmt.Errorf("image_members[%d] is empty", i))
		case m != strings.TrimSpace(m):
			errs = append(errs, fmt.Errorf("image_members[%d] %q has spaces around it", i, m))
		case strings.Count(m, "/") > 1 || strings.HasPrefix(m, "/") || strings.HasSuffix(m, "/"):
			errs = append(errs, fmt.Errorf("image_members[%d] %q: want a project ID, a project name or domain/name", i, m))
		case seen[m]:
			errs = append(errs, fmt.Errorf("image_members lists %q twice", m))
		}
		seen[m] = true
	}
	for i, t := range c.ImageTags {
		if t == "" {
			errs = append(errs, fmt.Errorf("image_tags[%d] is empty", i))
		} else if len(t) > 255 {
			errs = append(errs, fmt.Errorf("image_tags[%d] is %d characters long: Glance takes 255 at most", i, len(t)))
		}
	}
	for k := range c.Metadata {
		if k == "" || len(k) > 255 {
			errs = append(errs, fmt.Errorf("metadata key %q: want 1 to 255 characters", k))
		}
	}
	if c.ImageMinDisk < 0 {
		errs = append(errs, errors.New("image_min_disk must not be negative"))
	}
	if c.ImageMinRAM < 0 {
		errs = append(errs, errors.New("image_min_ram must not be negative"))
	}
	return errs
}

// Deprecated lists the deprecated aliases Prepare folded in, each with its canonical name:
// the faces show them as warnings.
func (c *ImageConfig) Deprecated() []string { return c.deprecated }

// ValidVisibility says whether v is one of Glance's image visibilities.
func ValidVisibility(v string) bool {
	for _, w := range Visibilities {
		if v == w {
			return true
		}
	}
	return false
}

// MinDisk is the min_disk of a new image of virtualSize bytes: image_min_disk if set (an
// error, naming it, when it is below the virtual size in GiB), else source's min_disk raised
// to the virtual size when source has one.
func (c *ImageConfig) MinDisk(source int, virtualSize int64) (int, error) {
	need := int((virtualSize + 1<<30 - 1) >> 30)
	if c.ImageMinDisk > 0 {
		if c.ImageMinDisk < need {
			return 0, fmt.Errorf("image_min_disk = %d is below the new image's virtual size (%d bytes, %d GiB): Nova would refuse every flavor that fits it", c.ImageMinDisk, virtualSize, need)
		}
		return c.ImageMinDisk, nil
	}
	if source > 0 && source < need {
		return need, nil
	}
	return source, nil
}

// MinRAM is the min_ram of a new image: image_min_ram if set, else source's.
func (c *ImageConfig) MinRAM(source int) int {
	if c.ImageMinRAM > 0 {
		return c.ImageMinRAM
	}
	return source
}
