package convert

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/ova"
)

// TestOVAProfile: the ova block's profile, hardware_version, controller and hash reach the
// appliance: its descriptor is the vsphere one (vmx-19, pvscsi, no VirtualBox elements) and
// its manifest is SHA1, verified by the OVA reader.
func TestOVAProfile(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "in.raw")
	if err := os.WriteFile(src, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	var p PostProcessor
	if err := p.Configure(map[string]interface{}{"formats": []string{"ova"}, "output_directory": filepath.Join(dir, "out"),
		"ova": map[string]interface{}{"profile": "vsphere", "hardware_version": 19, "controller": "pvscsi", "hash": "sha1"}}); err != nil {
		t.Fatal(err)
	}
	art, _, _, err := p.PostProcess(context.Background(), packersdk.TestUi(t), fileArtifact{src})
	if err != nil {
		t.Fatal(err)
	}
	out := art.Files()[0]
	a, err := ova.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Verify(context.Background()); err != nil || len(a.Digests) != 2 || a.Digests[0].Algorithm != "sha1" {
		t.Errorf("manifest %+v: %v", a.Digests, err)
	}
	desc := make([]byte, a.Members[0].Size)
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadAt(desc, a.Members[0].Offset); err != nil {
		t.Fatal(err)
	}
	d := string(desc)
	for _, want := range []string{"<vssd:VirtualSystemType>vmx-19</vssd:VirtualSystemType>", "<rasd:ResourceSubType>VirtualSCSI</rasd:ResourceSubType>", `vmw:key="firmware" vmw:value="bios"`} {
		if !strings.Contains(d, want) {
			t.Errorf("descriptor lacks %s:\n%s", want, d)
		}
	}
	if strings.Contains(d, "vbox") {
		t.Errorf("vsphere descriptor carries VirtualBox elements:\n%s", d)
	}
}
