package ova

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
)

// The "ova" format of the image engine's registry: recognised by content (a tar whose
// first member is an .ovf descriptor), a container (diskimage.Open refuses it;
// diskimage.OpenDisk reads its one disk in place), written by Write with the ova.Options in
// WriteOptions.FormatOptions["ova"].
func init() {
	diskimage.Register(diskimage.Format{
		Name:        "ova",
		Description: "an OVA archive (an OVF appliance: a tar of a descriptor and disks)",
		Extensions:  []string{".ova"},
		Order:       100, // the disk inside it is read through the archive: last
		Container:   true,
		Probe: func(r io.ReaderAt, size int64, head []byte) bool {
			return isOVAHead(r, size, head)
		},
		Open:   openOne,
		Writer: writer{},
	})
}

// openOne opens the only disk of the OVA f, read in place; closing it closes f.
func openOne(f *os.File) (diskimage.Image, error) {
	a, err := read(f, f.Name())
	if err != nil {
		return nil, err
	}
	d, err := a.Disk()
	if err != nil {
		return nil, err
	}
	img, err := a.OpenDisk(d)
	if err != nil {
		return nil, err
	}
	return &ownedImage{img, a}, nil
}

// writer writes an appliance (Write) into a regular file.
type writer struct{}

func (writer) NeedsSeek(diskimage.WriteOptions) bool { return true }

// Write takes the appliance's options from o.FormatOptions["ova"] (an Options or
// *Options), and Level, Workers and Progress from o where the Options leave them unset.
func (writer) Write(ctx context.Context, dst io.Writer, src diskimage.Image, o diskimage.WriteOptions) error {
	var opts Options
	switch v := o.FormatOptions["ova"].(type) {
	case Options:
		opts = v
	case *Options:
		if v != nil {
			opts = *v
		}
	case nil:
	default:
		return fmt.Errorf("ova: FormatOptions[\"ova\"] is a %T, not an ova.Options", v)
	}
	if opts.Level == 0 {
		opts.Level = o.Level
	}
	if opts.Workers == 0 {
		opts.Workers = o.Workers
	}
	if opts.Progress == nil {
		opts.Progress = o.Progress
	}
	f, ok := dst.(*os.File)
	if !ok {
		return fmt.Errorf("ova output must be a file (its tar headers are patched in place)")
	}
	_, err := Write(ctx, f, src, opts)
	return err
}

// ovaHeadMax bounds what isOVA reads to find the first member (PAX or GNU long-name records
// may come before it).
const ovaHeadMax = 1 << 20

// isOVA tells whether r, of size bytes, is an OVA: a ustar/GNU tar archive whose first
// regular member is named *.ovf.
func isOVA(r io.ReaderAt, size int64) bool {
	var head [512]byte
	if n, _ := r.ReadAt(head[:], 0); n < len(head) {
		return false
	}
	return isOVAHead(r, size, head[:])
}

func isOVAHead(r io.ReaderAt, size int64, head []byte) bool {
	if len(head) < 512 || string(head[257:262]) != "ustar" {
		return false
	}
	tr := tar.NewReader(io.NewSectionReader(r, 0, min(size, ovaHeadMax)))
	hdr, err := tr.Next() // checks the header checksum
	if err != nil {
		return false
	}
	return (hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeRegA) &&
		strings.HasSuffix(strings.ToLower(path.Base(hdr.Name)), ".ovf")
}
