package convert

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact"
	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact/hcptest"
)

// TestArtifactHCP: each file chromogenic-convert wrote reaches Packer's registry decoder as a
// local image of its format, with the checksum of the checksum file written beside it (the
// first type that has one), the input artifact and the source image its metadata records.
func TestArtifactHCP(t *testing.T) {
	dir := t.TempDir()
	qcow, vmdk := filepath.Join(dir, "d.qcow2"), filepath.Join(dir, "d.vmdk")
	for _, p := range []string{qcow, vmdk} {
		if err := os.WriteFile(p, []byte("image "+p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := writeChecksum(qcow, "sha256", 0o644, ""); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("image " + qcow))
	in := artifact.New("chromogenic.local", filepath.Join(dir, "w.raw"), new(multistep.BasicStateBag))
	in.SourceImage = "/src.raw"
	a := &Artifact{Formats: []string{"qcow2", "vmdk"}, ByFormat: map[string]string{"qcow2": qcow, "vmdk": vmdk},
		ChecksumTypes: []string{"md5", "SHA256"}, Input: in.Id(), SourceImage: artifact.HCPSourceOf(hcptest.Remote(t, in)),
		Provenance: artifact.Provenance{Path: qcow + ".provenance.json", SHA256: "ab12", Summary: "producer: x"}}
	imgs := hcptest.Images(t, a)
	if len(imgs) != 2 {
		t.Fatalf("%d images: %+v", len(imgs), imgs)
	}
	for i, w := range []struct{ path, format, sum string }{{qcow, "qcow2", "sha256:" + hex.EncodeToString(sum[:])}, {vmdk, "vmdk", ""}} {
		g := imgs[i]
		if g.ImageID != w.path || g.ProviderName != "local" || g.SourceImageID != "/src.raw" ||
			g.Labels["disk_format"] != w.format || g.Labels["checksum"] != w.sum || g.Labels["input"] != in.Id() || g.Labels["builder"] != BuilderID {
			t.Errorf("image %d: %+v, want %s %s checksum %q", i, g, w.path, w.format, w.sum)
		}
		if g.Labels["provenance"] != qcow+".provenance.json" || g.Labels["provenance_sha256"] != "ab12" {
			t.Errorf("image %d: provenance labels %v", i, g.Labels)
		}
	}
	r := hcptest.Remote(t, a)
	if r.State(artifact.StateProvenance) != qcow+".provenance.json" || r.State(artifact.StateProvenanceSHA256) != "ab12" ||
		r.State(artifact.StateProvenanceInfo) != "producer: x" {
		t.Errorf("provenance state across the RPC: %v %v", r.State(artifact.StateProvenance), r.State(artifact.StateProvenanceSHA256))
	}
}
