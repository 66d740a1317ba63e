// Package transfer moves disk images between the image engine and a byte stream: it encodes
// an image into a target format as a stream (through a read-ahead buffer) or, for formats
// whose writer must seek, through a spool file, in the one place that makes that choice; it
// spools a downloaded stream to a sparse local file; and it reads a remote file in place
// through an io.ReaderAt (HTTP Range requests), verifying the whole file before its last
// byte is used and reporting what was fetched.
//
// It knows nothing of Packer or of any cloud: progress is a callback, remote files are
// interfaces the cloud adapters implement. It trusts the image engine (internal/diskimage)
// to parse what it is given and the caller's paths; it never trusts a remote file until its
// Verify passed. In-house because it is a few hundred lines of glue over the image engine,
// which no library of the right shape provides.
package transfer
