package transfer

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage/vmdktest"
)

// TestEncodeReencodesGDAtEnd: a streamOptimized VMDK as VMware writes it (grain directory
// offset GD_AT_END in the header, the real one in the footer) is not sent as it is to a vmdk
// target (openstack-import with disk_format vmdk, chromogenic push): OpenStack's format
// inspector takes it for raw. Encode re-encodes it, says so, and the result is a VMDK the
// inspector accepts with the source's content; the same file with the offset in its header
// is still sent as its bytes.
func TestEncodeReencodesGDAtEnd(t *testing.T) {
	path, data := rawImage(t)
	raw, err := diskimage.OpenFormat(path, "raw")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.vmdk")
	if err := diskimage.Convert(context.Background(), raw, good, "vmdk", diskimage.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	goodBytes, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	atEnd := bytes.Clone(goodBytes)
	binary.LittleEndian.PutUint64(atEnd[56:], ^uint64(0))
	bad := filepath.Join(dir, "atend.vmdk")
	if err := os.WriteFile(bad, atEnd, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := vmdktest.Inspect(t, bad); r.Format != "raw" {
		t.Fatalf("the GD_AT_END input is %+v for the inspector, want raw (the test's premise)", r)
	}
	if !diskimage.VMDKGDAtEnd(atEnd) || diskimage.VMDKGDAtEnd(goodBytes) {
		t.Fatal("VMDKGDAtEnd misreads the headers")
	}

	encode := func(p string) (*Stream, []byte, string) {
		img, err := diskimage.OpenFormat(p, "vmdk")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { img.Close() })
		said := ""
		s, err := Encode(context.Background(), Source{Image: img, AsIsFormat: "vmdk", AsIs: func() (io.ReadCloser, error) { return os.Open(p) }},
			Options{Format: "vmdk", Say: func(m string) { said += m + "\n" }})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		got, err := io.ReadAll(s)
		if err != nil {
			t.Fatal(err)
		}
		return s, got, said
	}

	s, got, said := encode(bad)
	if s.How == "as-is" || !strings.Contains(said, "re-encoded") || !strings.Contains(said, "GD_AT_END") {
		t.Errorf("GD_AT_END input went %s (%q)", s.How, said)
	}
	if diskimage.VMDKGDAtEnd(got) {
		t.Error("the re-encoded VMDK's header still says GD_AT_END")
	}
	out := filepath.Join(dir, "sent.vmdk")
	if err := os.WriteFile(out, got, 0o600); err != nil {
		t.Fatal(err)
	}
	vmdktest.Require(t, out, "vmdk", int64(len(data)))
	if !bytes.Equal(decode(t, got, "vmdk"), data) {
		t.Error("the re-encoded VMDK does not hold the source")
	}

	s, got, said = encode(good)
	if s.How != "as-is" || !bytes.Equal(got, goodBytes) || strings.Contains(said, "re-encoded") {
		t.Errorf("a VMDK with its offset in the header went %s (%q), same bytes %v", s.How, said, bytes.Equal(got, goodBytes))
	}
}
