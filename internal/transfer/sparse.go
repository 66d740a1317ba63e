package transfer

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
)

// SpoolSparse copies r into a new file at path with exactly mode perm (BringHome with
// FromStream: an existing file is truncated, a link at path is not followed), leaving holes
// where whole 4 KiB blocks are zero, and syncs it; on failure the file is removed. It stops
// when ctx ends.
func SpoolSparse(ctx context.Context, path string, perm os.FileMode, r io.Reader) error {
	_, err := BringHome(ctx, path, perm, FromStream(r, 0), nil)
	return err
}

// spoolSparse copies r into f from offset 0, sparsely, and sets f's size to what r held.
func spoolSparse(ctx context.Context, f Sink, r io.Reader) error {
	const block = 4096
	buf := make([]byte, 4<<20)
	var off int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := io.ReadFull(r, buf)
		for i := 0; i < n; i += block {
			b := buf[i:min(i+block, n)]
			if !diskimage.IsZero(b) {
				if _, err := f.WriteAt(b, off+int64(i)); err != nil {
					return err
				}
			}
		}
		off += int64(n)
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	return f.Truncate(off)
}

// RangeStats counts what a ranged file fetched.
type RangeStats struct {
	Requests    int64 // range requests answered with data
	Retries     int64 // range requests retried
	Fetched     int64 // bytes fetched for readers and read-ahead
	HashFetched int64 // bytes fetched only to complete the hash
}

// RangedFile is a remote file read in place (a cloud adapter's HTTP Range reader) that
// hashes what it fetches: Verify completes the hash over the bytes no read needed and checks
// it against the one the remote side recorded ("" and no error when there is none).
type RangedFile interface {
	io.ReaderAt
	io.Closer
	Size() int64
	Verify() (algo string, err error)
	Stats() RangeStats
}

// Ranged is a disk image read in place from a RangedFile.
type Ranged struct {
	diskimage.Image
	file  RangedFile
	start time.Time
}

// OpenRanged opens the disk image of format in f; closing it closes f.
func OpenRanged(f RangedFile, format string) (*Ranged, error) {
	start := time.Now()
	img, err := diskimage.OpenReaderAt(f, f.Size(), format, f)
	if err != nil {
		return nil, err
	}
	return &Ranged{Image: img, file: f, start: start}, nil
}

// Verify checks the whole file (call it once the image was read) and returns what was
// fetched, as a sentence: "Read N MiB of the M MiB file in K range requests in T (H MiB more
// for the hash); ALGO of the whole file verified".
func (r *Ranged) Verify() (string, error) {
	algo, err := r.file.Verify()
	if err != nil {
		return "", err
	}
	st := r.file.Stats()
	verified := "no hash recorded: NOT verified"
	if algo != "" {
		verified = algo + " of the whole file verified"
	}
	return fmt.Sprintf("Read %d MiB of the %d MiB file in %d range requests in %s (%d MiB more for the hash); %s",
		st.Fetched>>20, r.file.Size()>>20, st.Requests, time.Since(r.start).Round(time.Second), st.HashFetched>>20, verified), nil
}

// WriteRaw writes img as a sparse raw file at path with exactly mode perm, synced (BringHome
// with FromImage; on failure the file is removed).
func WriteRaw(ctx context.Context, path string, perm os.FileMode, img diskimage.Image, progress Progress) error {
	_, err := BringHome(ctx, path, perm, FromImage(img), progress)
	return err
}
