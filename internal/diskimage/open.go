package diskimage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Errors returned by Open and OpenFormat. They are wrapped with details; test with errors.Is.
var (
	// ErrUnsupported is returned for images this package refuses to read: backing files,
	// external data files, encryption, unknown feature bits, or a format it recognises but
	// does not implement.
	ErrUnsupported = errors.New("unsupported disk image")
	// ErrBackingFile is returned for images that depend on a backing (parent) image.
	ErrBackingFile = fmt.Errorf("%w: image has a backing file", ErrUnsupported)
	// ErrExternalDataFile is returned for qcow2 images whose data lives in another file.
	ErrExternalDataFile = fmt.Errorf("%w: image has an external data file", ErrUnsupported)
	// ErrEncrypted is returned for encrypted images.
	ErrEncrypted = fmt.Errorf("%w: image is encrypted", ErrUnsupported)
	// ErrCorrupt is returned when the image metadata is inconsistent or truncated.
	ErrCorrupt = errors.New("corrupt disk image")
	// ErrUnknownFormat is returned by OpenFormat for a format name it does not know.
	ErrUnknownFormat = errors.New("unknown disk image format")
)

// opener opens an already opened file as one format. It takes ownership of f only on
// success.
type opener func(f *os.File) (Image, error)

// openers maps the format names accepted by OpenFormat to their readers. Aliases map to
// the same reader.
var openers = map[string]opener{
	"raw":   openRaw,
	"qcow2": openQcow2,
}

// Formats returns the format names OpenFormat accepts, sorted, without "auto".
func Formats() []string {
	names := make([]string, 0, len(openers))
	for n := range openers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Open opens a disk image, detecting its format from its content (see Probe).
func Open(path string) (Image, error) {
	return OpenFormat(path, "")
}

// OpenFormat opens a disk image as the named format. Format "" or "auto" detects the
// format from the content; an unknown name is an error wrapping ErrUnknownFormat.
func OpenFormat(path, format string) (Image, error) {
	format = strings.ToLower(strings.TrimSpace(format))
	var open opener
	if format != "" && format != "auto" {
		var ok bool
		if open, ok = openers[format]; !ok {
			return nil, fmt.Errorf("%w %q (known: auto, %s)", ErrUnknownFormat, format, strings.Join(Formats(), ", "))
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if open == nil {
		name, err := probe(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		open = openers[name]
	}
	img, err := open(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

// Probe detects the format of an open image file from its magic numbers. It returns a
// name accepted by OpenFormat, "raw" when nothing is recognised, ErrOVA for an OVA
// appliance, or an error wrapping ErrUnsupported for formats that are recognised but not
// readable by this package.
func Probe(f *os.File) (string, error) {
	return probe(f)
}

// foreign magics: formats we recognise only to refuse them, rather than reading them as
// raw and producing garbage.
var foreign = []struct {
	off   int64
	magic string
	name  string
}{
	{0, "vhdxfile", "vhdx"},
	{0, "QED\x00", "qed"},
	{0, "LUKS\xba\xbe", "LUKS"},
	{0, "WithoutFreeSpace", "parallels"},
	{0, "WithouFreSpacExt", "parallels"},
	{64, "\x7f\x10\xda\xbe", "vdi"},
	{0, "cxsparse", "vhd (header without footer)"},
	{0, "COWD", "vmdk (ESX COWD)"},
}

func probe(f *os.File) (string, error) {
	var head [512]byte
	n, err := f.ReadAt(head[:], 0)
	if err != nil && err != io.EOF {
		return "", err
	}
	h := head[:n]
	if bytes.HasPrefix(h, []byte("QFI\xfb")) {
		return "qcow2", nil
	}
	if st, err := f.Stat(); err == nil && isOVAHead(f, st.Size(), h) {
		return "", ErrOVA
	}
	for _, opener := range probers {
		if name, ok := opener(f, h); ok {
			return name, nil
		}
	}
	for _, m := range foreign {
		if int(m.off)+len(m.magic) <= len(h) && string(h[m.off:int(m.off)+len(m.magic)]) == m.magic {
			return "", fmt.Errorf("%w: %s images are not supported", ErrUnsupported, m.name)
		}
	}
	return "raw", nil
}

// probers are extra format detectors registered by format files (vmdk, vhd). Each gets the
// file and its first 512 bytes (fewer for a small file).
var probers []func(f *os.File, head []byte) (string, bool)
