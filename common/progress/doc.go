// Package progress shows the byte counts the engines report through callbacks on Packer's
// progress bar. Every face uses it; it imports no face.
package progress
