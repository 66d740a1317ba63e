package artifact

import (
	"fmt"
	"path/filepath"
	"strings"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// ImagePaths is the state key of a guest on several disks: []string, the local image of
// every disk, the boot (root) disk first, all in ImageFormat.
//
// The artifact shape of a guest on several disks, which every builder fills the same way
// (chromogenic-local with source_paths, chromogenic-ec2 with disks = "all"; the OpenStack
// builder with every volume of an instance next):
//
//   - image_path: the boot disk's image, the one holding the guest's root. Every reader
//     that knows one disk (convert, the imports, bootable) keeps working on it unchanged.
//   - image_paths: every disk's image, image_path first, then the other disks in the
//     instance's order (EC2 block-device mappings by device name, Nova volume attachments
//     by device): the order the guest's kernel names them in (vda, vdb...).
//   - image_format: the format of all of them (a builder's raw working copies).
//   - Files(): every disk's image; Destroy removes them all.
//
// A post-processor that writes formats writes one file per disk per format (see
// chromogenic-convert's disks_by_format); an import publishes the boot disk as the image
// and the others as snapshots mapped in it (chromogenic-ec2-import) or, later, as volumes
// (chromogenic-openstack-import prints OtherDisksNote).
const ImagePaths = "image_paths"

// AddDisks adds the other disks of a guest on several disks (after the boot disk, a.Path):
// Files and Destroy cover them, and the image_paths state lists every disk.
func (a *Artifact) AddDisks(paths ...string) {
	if len(paths) == 0 {
		return
	}
	a.OtherDisks = AddDisks(a.StateData, a.Path, a.OtherDisks, paths...)
}

// AddDisks is AddDisks of any artifact of several disks (this package's, common/ec2's):
// it returns others with paths added (absolute) and sets state's image_paths to the boot disk
// then all of them.
func AddDisks(state map[string]interface{}, boot string, others []string, paths ...string) []string {
	for _, p := range paths {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		others = append(others, p)
	}
	state[ImagePaths] = append([]string{boot}, others...)
	return others
}

// LocalImages returns the local image of every disk of an artifact, the boot disk first: its
// image_paths state (a []string, or a []interface{} after Packer's RPC), else the one disk
// LocalImage finds.
func LocalImages(a packersdk.Artifact) (paths []string, format string, err error) {
	switch v := a.State(ImagePaths).(type) {
	case []string:
		paths = v
	case []interface{}:
		for _, x := range v {
			if s, ok := x.(string); ok && s != "" {
				paths = append(paths, s)
			}
		}
	}
	first, format, err := LocalImage(a)
	if err != nil {
		return nil, "", err
	}
	if len(paths) == 0 || paths[0] != first {
		return []string{first}, format, nil
	}
	return paths, format, nil
}

// OtherDisksNote is the line an import that pushes the boot disk alone prints for an artifact
// of several disks (image_paths): the OpenStack import, and the EC2 import on Eucalyptus or
// from an OVA. "" for one disk.
func OtherDisksNote(a packersdk.Artifact) string {
	paths, _, err := LocalImages(a)
	if err != nil || len(paths) < 2 {
		return ""
	}
	return fmt.Sprintf("The guest has %d disks: the boot disk is imported as the image; the other %d (%s) are not pushed yet (volumes and snapshots of the other disks are not implemented)",
		len(paths), len(paths)-1, strings.Join(paths[1:], ", "))
}
