//go:build unix

package transfer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
)

// TestEncodeDescriptorNotAsIs: a descriptor VMDK (monolithicFlat) asked for as a VMDK is
// re-encoded, never sent as its few hundred bytes of text: what arrives decodes to the disk.
func TestEncodeDescriptorNotAsIs(t *testing.T) {
	path, data := rawImage(t)
	dir := filepath.Dir(path)
	if err := os.Rename(path, filepath.Join(dir, "disk-flat.vmdk")); err != nil {
		t.Fatal(err)
	}
	desc := filepath.Join(dir, "disk.vmdk")
	text := fmt.Sprintf("# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\nRW %d FLAT \"disk-flat.vmdk\" 0\n", len(data)/512)
	if err := os.WriteFile(desc, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	img, err := diskimage.Open(desc)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	said := ""
	opened := 0
	s, err := Encode(context.Background(), Source{Image: img, AsIsFormat: "vmdk", AsIs: func() (io.ReadCloser, error) { opened++; return os.Open(desc) }},
		Options{Format: "vmdk", SpoolDir: t.TempDir(), Say: func(m string) { said += m + "\n" }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := io.ReadAll(s)
	if err != nil {
		t.Fatal(err)
	}
	if s.How == "as-is" || opened != 1 || !strings.Contains(said, "descriptor") {
		t.Errorf("went %s, as-is opened %d times, said %q", s.How, opened, said)
	}
	if !bytes.Equal(decode(t, got, "vmdk"), data) {
		t.Error("the re-encoded VMDK is not the disk")
	}
}
