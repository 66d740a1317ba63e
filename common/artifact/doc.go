// Package artifact is what the plugin's faces hand each other across Packer: the local
// artifact a builder or chromogenic-convert makes (a disk image file and its state keys), and
// how a post-processor finds the local image of any artifact it is given (LocalImageFor: by
// the files_by_format map, the image_path key, or the files' content, never trusting a
// claimed format). Builders, post-processors and data sources import it; it imports no face.
package artifact
