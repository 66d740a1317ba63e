//go:generate packer-sdc struct-markdown

package local

import (
	"fmt"
	"path/filepath"
	"strings"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
)

// SourcePathsConfig is the several-disk form of source_path.
type SourcePathsConfig struct {
	// The disk images of a guest on several disks, the boot disk first, each raw or qcow2
	// (as `source_path`; `source_format` applies to all) and only ever read. Each is copied
	// to a working copy of its own (the first is `image_name`, disk N is `image_name` with
	// `-disk<N>` before its extension) and all are attached together: the guest's root is
	// found on any of them, and its `/etc/fstab` entries on the other disks are mounted where
	// it says (by UUID, LABEL or PARTUUID; kernel names such as `/dev/vdb1` are taken by disk
	// order, with a warning). A volume group may span the disks. Use either `source_path`
	// (one disk) or `source_paths`.
	SourcePaths []string `mapstructure:"source_paths" required:"false"`
}

// sources returns the disk images to start from, boot disk first.
func (c *Config) sources() []string {
	if len(c.SourcePaths) > 0 {
		return c.SourcePaths
	}
	return []string{c.SourcePath}
}

// workingCopies returns the working copy of each source, in order: image_name in the output
// directory, then image_name with -disk<N> before its extension.
func (c *Config) workingCopies() []string {
	return bcommon.DiskPaths(filepath.Join(c.OutputDir, c.ImageName), len(c.sources()))
}

// checkSourcePaths validates source_paths (set) against source_path; each error names the
// field and the entry.
func (c *Config) checkSourcePaths() []error {
	if c.SourcePath != "" {
		return []error{fmt.Errorf("source_path and source_paths are both set: give one disk in source_path or several in source_paths")}
	}
	var errs []error
	seen := map[string]int{}
	for i, p := range c.SourcePaths {
		if p == "" {
			errs = append(errs, fmt.Errorf("source_paths[%d] is empty", i))
			continue
		}
		abs, _ := filepath.Abs(p)
		if j, dup := seen[abs]; dup {
			errs = append(errs, fmt.Errorf("source_paths[%d] is source_paths[%d] again (%s)", i, j, p))
			continue
		}
		seen[abs] = i
		if err := checkSource(p, c.SourceFormat); err != nil {
			errs = append(errs, fmt.Errorf("source_paths[%d]: %s", i, strings.TrimPrefix(err.Error(), "source_path: ")))
		}
	}
	return errs
}
