package diskimage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage/testformat"
)

// TestRegistryToyFormat: a format declared in one file (testformat, imported here and
// nowhere else) is listed, named, found by extension, detected, opened, read through an
// io.ReaderAt and converted to and from, with no other file touched.
func TestRegistryToyFormat(t *testing.T) {
	ctx := context.Background()
	f, err := diskimage.Lookup(" TOY ")
	if err != nil || f.Name != testformat.Name {
		t.Fatalf("Lookup(alias) = %v, %v", f, err)
	}
	if got := diskimage.ByExtension("/some/disk" + strings.ToUpper(testformat.Ext)); got != f {
		t.Errorf("ByExtension = %v, want the toy format", got)
	}
	if f.Extension() != testformat.Ext || !f.Streamable(diskimage.WriteOptions{}) {
		t.Errorf("Extension %q, Streamable %v", f.Extension(), f.Streamable(diskimage.WriteOptions{}))
	}
	for name, list := range map[string][]string{"Names": diskimage.Names(), "Formats": diskimage.Formats(),
		"WriterFormats": diskimage.WriterFormats(), "ReaderAtFormats": diskimage.ReaderAtFormats(), "DiskWriters": diskimage.DiskWriters()} {
		if !slices.Contains(list, testformat.Name) {
			t.Errorf("%s() = %v, without %s", name, list, testformat.Name)
		}
	}
	// Name validation: unknown names are refused with a message listing the toy.
	if _, err := diskimage.LookupWriter("floppy"); !errors.Is(err, diskimage.ErrUnknownFormat) || !strings.Contains(err.Error(), testformat.Name) {
		t.Errorf("LookupWriter(floppy) = %v, want ErrUnknownFormat listing %s", err, testformat.Name)
	}

	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	want := make([]byte, 3<<20+512)
	for i := range want {
		want[i] = byte(i*7 + i>>12)
	}
	copy(want[1<<20:], bytes.Repeat([]byte{0}, 1<<20)) // a zero run in the middle
	if err := os.WriteFile(raw, want, 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := diskimage.OpenFormat(raw, "raw")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()

	// Conversion into the toy format, through the registry's writer lookup.
	toy := filepath.Join(dir, "disk"+f.Extension())
	if err := diskimage.Convert(ctx, src, toy, "toy", diskimage.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Detection: Probe and Open recognise it from its content.
	fh, err := os.Open(toy)
	if err != nil {
		t.Fatal(err)
	}
	name, err := diskimage.Probe(fh)
	fh.Close()
	if err != nil || name != testformat.Name {
		t.Fatalf("Probe = %q, %v", name, err)
	}
	img, err := diskimage.Open(toy)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if img.Format() != testformat.Name || img.Size() != int64(len(want)) {
		t.Fatalf("Open: %s of %d bytes", img.Format(), img.Size())
	}
	got := make([]byte, len(want))
	if _, err := img.ReadAt(got, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the toy image does not read back the guest bytes")
	}
	// Through an io.ReaderAt, by name.
	b, err := os.ReadFile(toy)
	if err != nil {
		t.Fatal(err)
	}
	ra, err := diskimage.OpenReaderAt(bytes.NewReader(b), int64(len(b)), testformat.Name, nil)
	if err != nil || ra.Size() != int64(len(want)) {
		t.Fatalf("OpenReaderAt = %v, %v", ra, err)
	}
	// And back out of it into a built-in format, read by qemu-img's peer: our qcow2 reader.
	back := filepath.Join(dir, "back.qcow2")
	if err := diskimage.Convert(ctx, img, back, "qcow2", diskimage.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	q, err := diskimage.Open(back)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.ReadAt(got, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if q.Format() != "qcow2" || !bytes.Equal(got, want) {
		t.Fatal("testfmt -> qcow2 lost the guest bytes")
	}
}

// TestRegistryBuiltins: the built-in declarations, as the faces rely on them.
func TestRegistryBuiltins(t *testing.T) {
	for ext, want := range map[string]string{"a.qcow2": "qcow2", "a.VMDK": "vmdk", "a.vhd": "vhd", "a.vhdx": "vhdx", "a.VDI": "vdi", "a.img": "raw", "a.raw": "raw", "a.iso": ""} {
		got := ""
		if f := diskimage.ByExtension(ext); f != nil {
			got = f.Name
		}
		if got != want {
			t.Errorf("ByExtension(%s) = %q, want %q", ext, got, want)
		}
	}
	if f, err := diskimage.Lookup("vpc"); err != nil || f.Name != "vhd" {
		t.Errorf("Lookup(vpc) = %v, %v", f, err)
	}
	if w, err := diskimage.LookupWriter("VPC"); err != nil || w == nil {
		t.Errorf("LookupWriter(VPC) = %v", err)
	}
	var order []string
	for _, f := range diskimage.Readers() {
		if f.Name != testformat.Name {
			order = append(order, f.Name)
		}
	}
	if strings.Join(order, " ") != "raw qcow2 vmdk vhd vhdx vdi" {
		t.Errorf("Readers() = %v, want raw qcow2 vmdk vhd vhdx vdi (cheapest first)", order)
	}
	if got := strings.Join(diskimage.ReaderAtFormats(), " "); got != "qcow2 raw testfmt vdi vhd vhdx vmdk" {
		t.Errorf("ReaderAtFormats() = %s", got)
	}
	if _, err := diskimage.OpenReaderAt(bytes.NewReader(nil), 0, "ova", nil); !errors.Is(err, diskimage.ErrUnknownFormat) {
		t.Errorf("OpenReaderAt(ova) = %v, want ErrUnknownFormat", err)
	}
}
