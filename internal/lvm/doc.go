// Package lvm reads LVM2 physical volumes of a disk image without LVM's tools and without
// device-mapper: the PV label, the metadata area header and the LVM2 text metadata it points
// at, and maps each logical volume onto the byte range of the PV that holds it, for offset
// loop devices.
//
// What it trusts: nothing it reads. The label, the metadata area and the metadata text come
// from a guest image and may be hostile: every offset is checked against the device it was
// read from, both checksums are verified as LVM verifies them (label and metadata text), the
// text parser is bounded (MaxMetadataSize, MaxDepth, MaxNodes, MaxLVs, MaxSegments, MaxPVs)
// and all extent arithmetic is overflow-checked. Only linear layouts (one PV, contiguous
// extents) are mapped; anything else is refused with its layout named.
//
// It never runs LVM's programs and never looks at the host's devices, so a volume group of
// the same name on the host is never touched. The package knows nothing of Packer or of loop
// devices: callers hand it io.ReaderAt views of the PV partitions. The on-disk format follows
// lvm2's lib/label/label.c, lib/format_text/layout.h, format-text.c and import_vsn1.c.
package lvm
