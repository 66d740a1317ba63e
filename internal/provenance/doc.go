// Package provenance is the record written beside every chromogenic artifact: where the image
// came from (cloud, instance, snapshot and image ids, or a local file), the working copy's
// block map (SHA-256 of each fixed-size block), the cleaning applied, the boot settings and
// every output's format, size and SHA-256. A later build names a record as its base to move
// only the blocks that changed: CloneInto copies the base's working copy, and Update writes a
// new image read in order over that copy, only where a block's hash differs from the base's
// map, making the new map on the way.
//
// It knows nothing of Packer. A record read back is not trusted: Read bounds its size, checks
// its version and that a block map's count agrees with its size, and a base is only used
// after its blocks are checked against the file it names (Verify).
package provenance
