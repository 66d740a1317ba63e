package ova

import (
	"archive/tar"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
)

// Reading: Open lists an OVA's members, the disks its OVF descriptor declares and the
// manifest's digests (Verify checks them: see manifest.go), and
// OpenDisk reads one of them in place, through a section of the archive file (no
// extraction). Every byte of an OVA is untrusted: members must be plain files inside the
// archive, the descriptor is read only up to maxDescriptor, the walk stops at maxMembers,
// and a disk's format comes from its own magic, not from what the descriptor claims.

const (
	maxDescriptor = 4 << 20
	maxMembers    = 4096
)

// ErrNotOVA is returned by Open for a file that is not an OVA.
var ErrNotOVA = errors.New("not an OVA archive (a tar whose first member is an .ovf descriptor)")

// Archive is an OVA opened for reading.
type Archive struct {
	Path       string
	Descriptor string // the .ovf member's name
	Members    []ArchiveMember
	Disks      []Disk // in the order of the descriptor's DiskSection
	// Manifest is the manifest member's name ("" when the archive has none) and Digests
	// its lines; Verify checks them.
	Manifest string
	Digests  []Digest
	f        *os.File
}

// ArchiveMember is one file of the archive and where its bytes are.
type ArchiveMember struct {
	Name         string
	Offset, Size int64
}

// Disk is a virtual disk the descriptor declares.
type Disk struct {
	ID        string // ovf:diskId
	File      string // the member holding it (ovf:href of its File reference)
	FormatURI string // ovf:format, as the descriptor says
	Capacity  int64  // ovf:capacity in bytes, as the descriptor says
	// Format is the image format of the member from its content ("vmdk", "qcow2", "vhd"),
	// "" when it is none the image engine reads.
	Format       string
	Offset, Size int64 // the member's bytes in the archive
}

// Open opens the OVA at path and reads its table of contents and descriptor.
func Open(path string) (*Archive, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	a, err := read(f, path)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// Close closes the archive file; images from OpenDisk must not be used afterwards.
func (a *Archive) Close() error { return a.f.Close() }

func read(f *os.File, path string) (*Archive, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !isOVA(f, st.Size()) {
		return nil, ErrNotOVA
	}
	a := &Archive{Path: path, f: f}
	sr := io.NewSectionReader(f, 0, st.Size())
	tr := tar.NewReader(sr)
	byName := map[string]ArchiveMember{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read the archive: %w", err)
		}
		if len(a.Members) == maxMembers {
			return nil, fmt.Errorf("more than %d members", maxMembers)
		}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
		case tar.TypeDir:
			continue
		default:
			// Links, devices and sparse members: never a place for an appliance's files.
			return nil, fmt.Errorf("member %q is not a plain file (tar type %q)", hdr.Name, hdr.Typeflag)
		}
		off, _ := sr.Seek(0, io.SeekCurrent)
		if hdr.Size < 0 || off+hdr.Size > st.Size() {
			return nil, fmt.Errorf("member %q (%d bytes at %d) runs past the end of the %d-byte file", hdr.Name, hdr.Size, off, st.Size())
		}
		m := ArchiveMember{Name: hdr.Name, Offset: off, Size: hdr.Size}
		if _, dup := byName[m.Name]; dup {
			return nil, fmt.Errorf("member %q appears twice", m.Name)
		}
		byName[m.Name] = m
		a.Members = append(a.Members, m)
		if a.Descriptor == "" {
			a.Descriptor = m.Name
		}
	}
	ovf := byName[a.Descriptor]
	if ovf.Size > maxDescriptor {
		return nil, fmt.Errorf("descriptor %s is %d bytes (at most %d are read)", ovf.Name, ovf.Size, maxDescriptor)
	}
	desc := make([]byte, ovf.Size)
	if _, err := f.ReadAt(desc, ovf.Offset); err != nil {
		return nil, fmt.Errorf("read descriptor %s: %w", ovf.Name, err)
	}
	env, err := parseEnvelope(desc)
	if err != nil {
		return nil, fmt.Errorf("descriptor %s: %w", ovf.Name, err)
	}
	if mf, ok := byName[manifestName(a.Descriptor)]; ok {
		if mf.Size > maxManifest {
			return nil, fmt.Errorf("manifest %s is %d bytes (at most %d are read)", mf.Name, mf.Size, maxManifest)
		}
		b := make([]byte, mf.Size)
		if _, err := f.ReadAt(b, mf.Offset); err != nil {
			return nil, fmt.Errorf("read manifest %s: %w", mf.Name, err)
		}
		if a.Digests, err = parseManifest(mf.Name, b, byName); err != nil {
			return nil, err
		}
		a.Manifest = mf.Name
	}
	files := map[string]string{}
	for _, r := range env.Files {
		files[r.ID] = r.Href
	}
	for _, d := range env.Disks {
		href, ok := files[d.FileRef]
		if !ok {
			return nil, fmt.Errorf("descriptor %s: disk %q refers to file %q, which References does not list", ovf.Name, d.ID, d.FileRef)
		}
		m, ok := byName[href]
		if !ok {
			return nil, fmt.Errorf("descriptor %s: disk %q is in %q, which the archive does not hold", ovf.Name, d.ID, href)
		}
		capacity, err := capacityBytes(d.Capacity, d.Units)
		if err != nil {
			return nil, fmt.Errorf("descriptor %s: disk %q: %w", ovf.Name, d.ID, err)
		}
		a.Disks = append(a.Disks, Disk{ID: d.ID, File: href, FormatURI: d.Format, Capacity: capacity,
			Format: memberFormat(f, m), Offset: m.Offset, Size: m.Size})
	}
	return a, nil
}

// envelope is the part of an OVF descriptor that says where the disks are. Names match in
// any namespace (OVF 1.x and 2.x use different ones).
type envelope struct {
	Files []struct {
		ID   string `xml:"id,attr"`
		Href string `xml:"href,attr"`
	} `xml:"References>File"`
	Disks []struct {
		ID       string `xml:"diskId,attr"`
		FileRef  string `xml:"fileRef,attr"`
		Capacity string `xml:"capacity,attr"`
		Units    string `xml:"capacityAllocationUnits,attr"`
		Format   string `xml:"format,attr"`
	} `xml:"DiskSection>Disk"`
}

func parseEnvelope(b []byte) (*envelope, error) {
	var env envelope
	d := xml.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(&env); err != nil {
		return nil, fmt.Errorf("not a readable OVF descriptor: %w", err)
	}
	return &env, nil
}

// capacityBytes turns ovf:capacity with its allocation units ("byte", "byte * 2^30") into
// bytes.
func capacityBytes(capacity, units string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(capacity), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("capacity %q is not a number of units", capacity)
	}
	u := strings.ReplaceAll(strings.ToLower(units), " ", "")
	shift := 0
	switch {
	case u == "" || u == "byte" || u == "bytes":
	case strings.HasPrefix(u, "byte*2^"):
		if shift, err = strconv.Atoi(strings.TrimPrefix(u, "byte*2^")); err != nil || shift < 0 || shift > 62 {
			return 0, fmt.Errorf("capacityAllocationUnits %q not understood", units)
		}
	default:
		return 0, fmt.Errorf("capacityAllocationUnits %q not understood", units)
	}
	if n > (1<<62)>>shift {
		return 0, fmt.Errorf("capacity %s %s is too large", capacity, units)
	}
	return n << shift, nil
}

// memberFormat names the image format of a member from its content (diskimage.Detect):
// a disk image format read in place (diskimage.OpenReaderAt), "" for anything else (raw
// included: a member is not taken for a disk because nothing else matched).
func memberFormat(f *os.File, m ArchiveMember) string {
	fm, err := diskimage.Detect(io.NewSectionReader(f, m.Offset, m.Size), m.Size)
	if err != nil || fm.Fallback || fm.Container || fm.OpenReaderAt == nil {
		return ""
	}
	return fm.Name
}

// Disk returns the appliance's only disk, or an error naming the disks when there is none
// or more than one (which one to take is then the user's choice, not ours).
func (a *Archive) Disk() (Disk, error) {
	switch len(a.Disks) {
	case 1:
		return a.Disks[0], nil
	case 0:
		return Disk{}, fmt.Errorf("OVA %s declares no disk", a.Path)
	}
	var names []string
	for _, d := range a.Disks {
		names = append(names, fmt.Sprintf("%s (%s)", d.File, d.ID))
	}
	return Disk{}, fmt.Errorf("OVA %s holds %d disks (%s): only a one-disk appliance can be taken as a disk image", a.Path, len(a.Disks), strings.Join(names, ", "))
}

// Member returns the raw bytes of a disk's member.
func (a *Archive) Member(d Disk) *io.SectionReader { return io.NewSectionReader(a.f, d.Offset, d.Size) }

// OpenDisk opens a disk of the archive as an image, read in place. Closing the image does
// not close the archive.
func (a *Archive) OpenDisk(d Disk) (diskimage.Image, error) {
	if d.Format == "" {
		return nil, fmt.Errorf("OVA %s: disk %s (%s) is in no format the image engine reads (ovf:format %q)", a.Path, d.File, d.ID, d.FormatURI)
	}
	img, err := diskimage.OpenReaderAt(a.Member(d), d.Size, d.Format, nil)
	if err != nil {
		return nil, fmt.Errorf("OVA %s: disk %s: %w", a.Path, d.File, err)
	}
	return img, nil
}

// OpenImage opens the only disk of the OVA at path as an image; closing it closes the
// archive.
func OpenImage(path string) (diskimage.Image, Disk, error) {
	a, err := Open(path)
	if err != nil {
		return nil, Disk{}, err
	}
	d, err := a.Disk()
	if err == nil {
		var img diskimage.Image
		if img, err = a.OpenDisk(d); err == nil {
			return &ownedImage{img, a}, d, nil
		}
	}
	a.Close()
	return nil, Disk{}, err
}

// ownedImage closes its archive with it.
type ownedImage struct {
	diskimage.Image
	a *Archive
}

func (o *ownedImage) Close() error {
	err := o.Image.Close()
	if cerr := o.a.Close(); err == nil {
		err = cerr
	}
	return err
}
