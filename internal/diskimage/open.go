package diskimage

import (
	"errors"
	"fmt"
	"os"
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

// Open opens a disk image, detecting its format from its content (see Detect).
func Open(path string) (Image, error) {
	return OpenFormat(path, "")
}

// OpenFormat opens a disk image as the named format (see Formats). Format "" or "auto"
// detects the format from the content; an unknown name is an error wrapping
// ErrUnknownFormat. A container (an OVA), named or detected, is refused with a
// ContainerError.
func OpenFormat(path, format string) (Image, error) {
	return openFile(path, format, false)
}

// OpenDisk is OpenFormat that also reads containers: for an OVA (named or detected), it
// opens the one disk inside it, read in place; closing the image closes the file.
func OpenDisk(path, format string) (Image, error) {
	return openFile(path, format, true)
}

func openFile(path, format string, containers bool) (Image, error) {
	format = strings.ToLower(strings.TrimSpace(format))
	var fm *Format
	if format != "" && format != "auto" {
		f, err := Lookup(format)
		if err != nil || f.Open == nil {
			return nil, fmt.Errorf("%w %q (known: auto, %s)", ErrUnknownFormat, format, strings.Join(known(containers), ", "))
		}
		if f.Container && !containers {
			return nil, fmt.Errorf("%s: %w", path, &ContainerError{f})
		}
		fm = f
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if fm == nil {
		size, err := fileSize(f)
		if err == nil {
			fm, err = Detect(f, size)
		}
		if err == nil && fm.Container && (!containers || fm.Open == nil) {
			err = &ContainerError{fm}
		}
		if err == nil && fm.Open == nil {
			err = fmt.Errorf("%w: %s images are not read", ErrUnsupported, fm.Name)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	img, err := fm.Open(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

// known lists the names openFile accepts.
func known(containers bool) []string {
	if !containers {
		return Formats()
	}
	return names(Readers())
}

// Probe detects the format of an open image file from its content (see Detect) and
// returns its name: "raw" when nothing is recognised, "ova" for an OVA appliance (a
// container: OpenFormat refuses it), or an error wrapping ErrUnsupported for formats that
// are recognised but not readable by this package.
func Probe(f *os.File) (string, error) {
	size, err := fileSize(f)
	if err != nil {
		return "", err
	}
	fm, err := Detect(f, size)
	if err != nil {
		return "", err
	}
	return fm.Name, nil
}

// foreign magics: formats we recognise only to refuse them, rather than reading them as
// raw and producing garbage.
var foreign = []struct {
	off   int64
	magic string
	name  string
}{
	{0, "QED\x00", "qed"},
	{0, "LUKS\xba\xbe", "LUKS"},
	{0, "WithoutFreeSpace", "parallels"},
	{0, "WithouFreSpacExt", "parallels"},
	{0, "cxsparse", "vhd (header without footer)"},
	{0, "COWD", "vmdk (ESX COWD)"},
}

// refuseForeign returns an error wrapping ErrUnsupported when head is a foreign magic.
func refuseForeign(h []byte) error {
	for _, m := range foreign {
		if int(m.off)+len(m.magic) <= len(h) && string(h[m.off:int(m.off)+len(m.magic)]) == m.magic {
			return fmt.Errorf("%w: %s images are not supported", ErrUnsupported, m.name)
		}
	}
	return nil
}
