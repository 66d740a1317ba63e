package artifact

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/ova"
)

// FilesByFormat is the state key of artifacts that carry one file per format
// (chromogenic-convert): map format -> path.
const FilesByFormat = "files_by_format"

// LocalInput is the local image an import reads: a disk image file, or the disk inside an
// OVA appliance (read in place, never extracted).
type LocalInput struct {
	Path   string // the file
	Format string // what the file is: raw, qcow2, vmdk, vhd, or ova
	// For an OVA: the member holding its disk, and that disk's format.
	Disk, DiskFormat string
}

// ImageFormat is the format of the disk image itself: DiskFormat for an OVA, else Format.
func (in *LocalInput) ImageFormat() string {
	if in.Format == "ova" {
		return in.DiskFormat
	}
	return in.Format
}

func (in *LocalInput) String() string {
	if in.Format == "ova" {
		return fmt.Sprintf("%s (ova; disk %s, %s)", in.Path, in.Disk, in.DiskFormat)
	}
	return fmt.Sprintf("%s (%s)", in.Path, in.Format)
}

// Open opens the disk image: the file, or the OVA's disk.
func (in *LocalInput) Open() (diskimage.Image, error) {
	img, err := diskimage.OpenDisk(in.Path, in.Format)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", in.Path, err)
	}
	return img, nil
}

// OpenBytes returns the bytes of the disk image file as they are (the OVA's disk member for
// an OVA) and their length, for an upload that needs no conversion.
func (in *LocalInput) OpenBytes() (io.ReadCloser, int64, error) {
	if in.Format != "ova" {
		f, err := os.Open(in.Path)
		if err != nil {
			return nil, 0, err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, 0, err
		}
		return f, st.Size(), nil
	}
	a, err := ova.Open(in.Path)
	if err != nil {
		return nil, 0, err
	}
	d, err := a.Disk()
	if err != nil {
		a.Close()
		return nil, 0, err
	}
	return struct {
		io.Reader
		io.Closer
	}{a.Member(d), a}, d.Size, nil
}

// ImportFormats are the image formats the imports read, cheapest first (diskimage.Readers):
// a sparse raw file, then the formats that need decoding. "ova" stands for the disk inside
// an OVA.
var ImportFormats = readerNames()

func readerNames() []string {
	var out []string
	for _, f := range diskimage.Readers() {
		out = append(out, f.Name)
	}
	return out
}

// LocalImageFor chooses the local image an import reads from an artifact, by format:
// the first of formats (in order of preference; "ova" means the disk inside an OVA) that
// the artifact has. The candidates are, in this order of authority: the files_by_format
// state (chromogenic-convert: one file per format), the image_path state (the builders'
// working copy), else the artifact's files recognised by their content (a raw file only
// by its .raw or .img name). Each chosen file's format is checked against its content, so
// an OVA is never taken for a raw disk, except a raw image declared so by the state: a raw
// working copy is opened as raw whatever its first sector (the guest's) looks like. Anything else is an error naming the files and
// their formats.
func LocalImageFor(a packersdk.Artifact, formats []string) (*LocalInput, error) {
	cands, err := candidates(a)
	if err != nil {
		return nil, err
	}
	byFormat := map[string]candidate{}
	for _, c := range cands {
		if _, ok := byFormat[c.format]; !ok {
			byFormat[c.format] = c
		}
	}
	for _, f := range formats {
		c, ok := byFormat[f]
		if !ok {
			continue
		}
		if f == "raw" && c.declared {
			// A raw image we made (a builder's working copy, a conversion's raw output): its
			// first sector is the guest's, so what it looks like says nothing.
			return &LocalInput{Path: c.path, Format: "raw"}, nil
		}
		return inspect(c.path, f)
	}
	if len(cands) == 0 {
		return nil, fmt.Errorf("artifact from %s has no local disk image (files: %v)", a.BuilderId(), a.Files())
	}
	var have []string
	for _, c := range cands {
		have = append(have, fmt.Sprintf("%s (%s)", c.path, c.format))
	}
	return nil, fmt.Errorf("no image of the artifact from %s is in a format this reads: it has %s; this reads %s",
		a.BuilderId(), strings.Join(have, ", "), strings.Join(formats, ", "))
}

// candidate is a local image and its format; declared: the format comes from the state a
// chromogenic builder or post-processor set (not from the file's content).
type candidate struct {
	path, format string
	declared     bool
}

// candidates lists the artifact's local images with the format each claims.
func candidates(a packersdk.Artifact) ([]candidate, error) {
	if m := filesByFormat(a.State(FilesByFormat)); len(m) > 0 {
		var out []candidate
		for f, p := range m {
			out = append(out, candidate{p, f, true})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].format < out[j].format })
		return out, nil
	}
	if p, ok := a.State(ImagePath).(string); ok && p != "" {
		f, _ := a.State(ImageFormat).(string)
		declared := f != ""
		if !declared {
			var err error
			if f, err = probe(p); err != nil {
				return nil, err
			}
		}
		return []candidate{{p, f, declared}}, nil
	}
	var out []candidate
	for _, p := range a.Files() {
		f, err := probe(p)
		if err != nil {
			continue
		}
		if fm := diskimage.ByExtension(p); f != "raw" || (fm != nil && fm.Name == "raw") {
			out = append(out, candidate{p, f, false})
		}
	}
	return out, nil
}

// filesByFormat reads the files_by_format state: a map[string]string in the plugin's own
// process; across Packer's RPC (msgpack) it arrives as a map[interface{}]interface{} whose
// strings may be strings or bytes.
func filesByFormat(v interface{}) map[string]string {
	str := func(x interface{}) (string, bool) {
		switch s := x.(type) {
		case string:
			return s, true
		case []byte:
			return string(s), true
		}
		return "", false
	}
	out := map[string]string{}
	switch m := v.(type) {
	case map[string]string:
		return m
	case *map[string]string:
		if m != nil {
			return *m
		}
	case map[string]interface{}:
		for k, v := range m {
			if s, ok := str(v); ok {
				out[k] = s
			}
		}
	case map[interface{}]interface{}:
		for k, v := range m {
			ks, ok1 := str(k)
			vs, ok2 := str(v)
			if ok1 && ok2 {
				out[ks] = vs
			}
		}
	}
	return out
}

// probe names the format of the file at path from its content: "ova" for an OVA.
func probe(path string) (string, error) {
	img, err := diskimage.Open(path)
	if ce := (*diskimage.ContainerError)(nil); errors.As(err, &ce) {
		return ce.Format.Name, nil
	}
	if err != nil {
		return "", err
	}
	defer img.Close()
	return img.Format(), nil
}

// inspect checks that the file at path is what it claims to be and, for an OVA, that it
// holds one disk the image engine reads.
func inspect(path, claimed string) (*LocalInput, error) {
	actual, err := probe(path)
	if err != nil {
		return nil, fmt.Errorf("%s (%s): %w", path, claimed, err)
	}
	if actual != claimed {
		return nil, fmt.Errorf("%s is said to be %s but its content is %s", path, claimed, actual)
	}
	in := &LocalInput{Path: path, Format: actual}
	if actual != "ova" {
		return in, nil
	}
	img, d, err := ova.OpenImage(path)
	if err != nil {
		return nil, fmt.Errorf("cannot take the disk of %s: %w", path, err)
	}
	img.Close()
	in.Disk, in.DiskFormat = d.File, d.Format
	return in, nil
}
