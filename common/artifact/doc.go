// Package artifact is what the plugin's faces hand each other across Packer: the local
// artifact a builder or chromogenic-convert makes (a disk image file and its state keys), and
// how a post-processor finds the local image of any artifact it is given (LocalImageFor: by
// the files_by_format map, the image_path key, or the files' content, never trusting a
// claimed format). Builders, post-processors and data sources import it; it imports no face.
//
// A guest on several disks: image_path is the boot (root) disk, image_paths every disk in the
// instance's order, boot disk first, Files lists and Destroy removes them all (ImagePaths
// has the whole contract, which every builder that captures several disks fills).
package artifact
