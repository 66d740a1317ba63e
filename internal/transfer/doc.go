// Package transfer moves disk images between the image engine and a byte stream. BringHome is
// the one way a builder makes its working copy from a source (an image: file, device or
// remote file read in place; a stream; a cloud adapter writing the file itself): a new file
// of the build's mode, written sparsely, synced, removed on any failure, with progress as a
// callback and statistics for one throughput line. A source that writes in order can also be
// hashed on the way (the working copy's block map, no second reading) and, given an earlier
// working copy and its map (BringHomeWith, HomeOptions.Base), update a copy of it: only the
// blocks that differ are written (provenance.Update). It also encodes an image into a target
// format as a stream (through a read-ahead buffer) or, for formats whose writer must seek,
// through a spool file, in the one place that makes that choice; and it reads a remote file
// in place through an io.ReaderAt (HTTP Range requests), verifying the whole file before the
// copy is used and reporting what was fetched.
//
// It knows nothing of Packer or of any cloud: progress is a callback, remote files are
// interfaces the cloud adapters implement. It trusts the image engine (internal/diskimage)
// to parse what it is given and the caller's paths; it never trusts a remote file until its
// Verify passed. In-house because it is a few hundred lines of glue over the image engine,
// which no library of the right shape provides.
package transfer
