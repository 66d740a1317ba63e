package convert

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage/testformat"
)

// TestRegistryToyFormat: formats are validated, named and given their extension by the
// image engine's registry: a format declared in its own file alone (testformat, linked
// into this test only) is accepted, written and named; aliases become canonical names.
func TestRegistryToyFormat(t *testing.T) {
	var bad PostProcessor
	err := bad.Configure(map[string]interface{}{"formats": []string{"floppy"}})
	if err == nil || !strings.Contains(err.Error(), testformat.Name) || !strings.Contains(err.Error(), "ova") {
		t.Errorf("unknown format: %v, want the known formats listed (%s and ova among them)", err, testformat.Name)
	}

	dir := t.TempDir()
	src := filepath.Join(dir, "in.raw")
	data := make([]byte, 1<<20)
	copy(data[4096:], "guest data")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var p PostProcessor
	if err := p.Configure(map[string]interface{}{"formats": []string{"Toy", "vpc"}}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.config.Formats, " "); got != testformat.Name+" vhd" {
		t.Fatalf("formats = %s, want canonical names", got)
	}
	art, _, _, err := p.PostProcess(context.Background(), packersdk.TestUi(t), fileArtifact{src})
	if err != nil {
		t.Fatal(err)
	}
	out := art.(*Artifact).ByFormat[testformat.Name]
	if filepath.Base(out) != "in"+testformat.Ext {
		t.Fatalf("output %q, want in%s", out, testformat.Ext)
	}
	img, err := diskimage.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	got := make([]byte, len(data))
	if _, err := img.ReadAt(got, 0); err != nil || img.Format() != testformat.Name || string(got) != string(data) {
		t.Fatalf("read back %s: %v", img.Format(), err)
	}
	if vhd := art.(*Artifact).ByFormat["vhd"]; filepath.Ext(vhd) != ".vhd" {
		t.Errorf("vhd output %q", vhd)
	}
}
