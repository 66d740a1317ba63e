package diskimage

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Format declares one image format: its names, file extensions, how its content is
// recognised, its readers and its writer. Each format declares itself with Register from
// the init of its own file (raw.go, qcow2.go, vmdk.go, vhd.go here; internal/ova for
// "ova"), and everything that lists, detects, opens or writes formats asks the registry.
type Format struct {
	// Name is the canonical name, lower case ("qcow2").
	Name string
	// Aliases are other names accepted for it (qemu's "vpc" for "vhd").
	Aliases []string
	// Description says what the file is, for messages ("an OVA archive (...)").
	Description string
	// Extensions are the file name extensions of the format, with the dot, lower case;
	// the first is given to output files.
	Extensions []string
	// Order places the format in probe order and in preference lists (Readers, Writers):
	// lower first, the cheapest to read first.
	Order int
	// Probe recognises the format from the content of r (size bytes) whose first 512 bytes
	// (fewer for a small file) are head. Nil: never recognised by content.
	Probe func(r io.ReaderAt, size int64, head []byte) bool
	// Fallback: what a file that no Probe recognises is taken for (raw). One format only.
	Fallback bool
	// Container: the file is an archive holding disk images (an OVA), not a disk image.
	// OpenFormat refuses it (ContainerError); OpenDisk opens the disk inside with Open.
	Container bool
	// Open reads a local file as this format; it takes ownership of f only on success.
	// Nil: the format is not read.
	Open func(f *os.File) (Image, error)
	// OpenReaderAt reads size bytes through ra (not a local file: a remote image, an
	// archive member); Close closes c. Nil: not read that way.
	OpenReaderAt func(ra io.ReaderAt, size int64, c io.Closer) (Image, error)
	// Writer writes the format; nil: not written. Writer.NeedsSeek declares whether (with
	// given options) it can stream.
	Writer Writer
}

// Extension is the extension given to output files of the format, with the dot.
func (f *Format) Extension() string {
	if len(f.Extensions) == 0 {
		return "." + f.Name
	}
	return f.Extensions[0]
}

// Streamable reports whether the format's writer writes strictly sequentially with opts
// (into a pipe, an HTTP body). False when it has no writer.
func (f *Format) Streamable(opts WriteOptions) bool {
	return f.Writer != nil && !f.Writer.NeedsSeek(opts)
}

var (
	registry []*Format              // in Order, then Name
	byName   = map[string]*Format{} // names and aliases
	byExt    = map[string]*Format{}
)

// Register declares a format. It panics on an empty or duplicate name, alias or extension,
// or a second Fallback: formats are declared from init, where such a mistake must not
// pass.
func Register(f Format) {
	if f.Name == "" || f.Name != strings.ToLower(f.Name) {
		panic(fmt.Sprintf("diskimage: format name %q must be lower case and not empty", f.Name))
	}
	p := &f
	for _, n := range append([]string{f.Name}, f.Aliases...) {
		n = strings.ToLower(n)
		if _, dup := byName[n]; dup || n == "auto" || n == "" {
			panic("diskimage: format registered twice: " + n)
		}
		byName[n] = p
	}
	for _, e := range f.Extensions {
		e = strings.ToLower(e)
		if _, dup := byExt[e]; dup || !strings.HasPrefix(e, ".") {
			panic("diskimage: format extension bad or registered twice: " + e)
		}
		byExt[e] = p
	}
	if f.Fallback {
		for _, o := range registry {
			if o.Fallback {
				panic("diskimage: two fallback formats: " + o.Name + ", " + f.Name)
			}
		}
	}
	registry = append(registry, p)
	sort.SliceStable(registry, func(i, j int) bool {
		if registry[i].Order != registry[j].Order {
			return registry[i].Order < registry[j].Order
		}
		return registry[i].Name < registry[j].Name
	})
}

// Lookup returns the format of a name or alias (any case, spaces trimmed); an unknown name
// is an error wrapping ErrUnknownFormat that lists Names.
func Lookup(name string) (*Format, error) {
	if f, ok := byName[strings.ToLower(strings.TrimSpace(name))]; ok {
		return f, nil
	}
	return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownFormat, name, strings.Join(Names(), ", "))
}

// ByExtension returns the format whose extension ends path (or is path, ".img"), any
// case; nil when none.
func ByExtension(path string) *Format {
	return byExt[strings.ToLower(filepath.Ext(path))]
}

// All returns every registered format, in Order.
func All() []*Format { return append([]*Format(nil), registry...) }

// Readers returns the formats that are read (Open), containers included, in Order: the
// cheapest to read first.
func Readers() []*Format { return filter(func(f *Format) bool { return f.Open != nil }) }

// Writers returns the formats that are written, containers included, in Order.
func Writers() []*Format { return filter(func(f *Format) bool { return f.Writer != nil }) }

// Names returns the canonical names of all formats, sorted.
func Names() []string { return names(All()) }

// Formats returns the names OpenFormat accepts besides "auto": the disk image formats that
// are read (not containers), sorted.
func Formats() []string {
	return names(filter(func(f *Format) bool { return f.Open != nil && !f.Container }))
}

// WriterFormats returns the names of the formats that are written, containers included,
// sorted.
func WriterFormats() []string { return names(Writers()) }

// DiskWriters returns the names of the disk image formats (not containers) that are
// written, in Order: what an image service takes as a disk format.
func DiskWriters() []string {
	var out []string
	for _, f := range Writers() {
		if !f.Container {
			out = append(out, f.Name)
		}
	}
	return out
}

// ReaderAtFormats returns the names of the formats OpenReaderAt reads, sorted.
func ReaderAtFormats() []string {
	return names(filter(func(f *Format) bool { return f.OpenReaderAt != nil }))
}

func filter(keep func(*Format) bool) []*Format {
	var out []*Format
	for _, f := range registry {
		if keep(f) {
			out = append(out, f)
		}
	}
	return out
}

func names(fs []*Format) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.Name)
	}
	sort.Strings(out)
	return out
}

// ErrContainer is matched (errors.Is) by a ContainerError.
var ErrContainer = errors.New("an archive of disk images, not a disk image")

// ContainerError is returned by Open and OpenFormat for a file of a Container format (an
// OVA): it is not a disk image and is never read as raw; OpenDisk reads the disk inside.
type ContainerError struct{ Format *Format }

func (e *ContainerError) Error() string {
	d := e.Format.Description
	if d == "" {
		d = "an archive of disk images (" + e.Format.Name + ")"
	}
	return "is " + d + ", not a disk image; read the disk inside it"
}

// Is makes errors.Is(err, ErrContainer) true.
func (e *ContainerError) Is(target error) bool { return target == ErrContainer }

// Detect recognises the format of r, of size bytes, from its content: the first Container
// whose Probe matches (archives are recognised before the images they may hold), else the
// first other format in Order whose Probe matches, else the Fallback (raw). Formats known
// only to be refused (QED, parallels...) are an error wrapping ErrUnsupported.
func Detect(r io.ReaderAt, size int64) (*Format, error) {
	var head [512]byte
	n, err := r.ReadAt(head[:min(int64(len(head)), max(size, 0))], 0)
	if err != nil && err != io.EOF {
		return nil, err
	}
	h := head[:n]
	for _, containers := range []bool{true, false} {
		for _, f := range registry {
			if f.Probe != nil && f.Container == containers && f.Probe(r, size, h) {
				return f, nil
			}
		}
	}
	if err := refuseForeign(h); err != nil {
		return nil, err
	}
	for _, f := range registry {
		if f.Fallback {
			return f, nil
		}
	}
	return nil, fmt.Errorf("%w: format not recognised", ErrUnsupported)
}
