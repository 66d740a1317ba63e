package artifact

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	registryimage "github.com/hashicorp/packer-plugin-sdk/packer/registry/image"

	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact/hcptest"
)

// TestLocalArtifactHCP: a builder's working copy reaches Packer's registry decoder as one
// local image (its absolute path on this host, raw, its source and builder), and the
// artifact's other states still answer.
func TestLocalArtifactHCP(t *testing.T) {
	dir := t.TempDir()
	state := new(multistep.BasicStateBag)
	state.Put("generated_data", map[string]interface{}{"Foo": "bar"})
	a := New("chromogenic.local", filepath.Join(dir, "w.raw"), state)
	a.SourceImage = "/srv/images/source.qcow2"
	host, _ := os.Hostname()
	imgs := hcptest.Images(t, a)
	if len(imgs) != 1 {
		t.Fatalf("%d images: %+v", len(imgs), imgs)
	}
	got := imgs[0]
	want := registryimage.Image{ImageID: filepath.Join(dir, "w.raw"), ProviderName: ProviderLocal, ProviderRegion: host,
		SourceImageID: "/srv/images/source.qcow2"}
	if got.ImageID != want.ImageID || got.ProviderName != want.ProviderName || got.ProviderRegion != want.ProviderRegion ||
		got.SourceImageID != want.SourceImageID {
		t.Errorf("image %+v, want %+v", got, want)
	}
	wantLabels := map[string]string{LabelDiskFormat: "raw", LabelBuilder: "chromogenic.local", LabelSourceImage: "/srv/images/source.qcow2"}
	if len(got.Labels) != len(wantLabels) {
		t.Errorf("labels %v, want %v (empty ones dropped)", got.Labels, wantLabels)
	}
	for k, v := range wantLabels {
		if got.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, got.Labels[k], v)
		}
	}
	remote := hcptest.Remote(t, a)
	if p, _ := remote.State(ImagePath).(string); p != filepath.Join(dir, "w.raw") {
		t.Errorf("image_path across the RPC: %v", remote.State(ImagePath))
	}
	// A post-processor given the artifact across the RPC finds its source.
	if src := HCPSourceOf(remote); src != "/srv/images/source.qcow2" {
		t.Errorf("HCPSourceOf across the RPC: %q", src)
	}
}

// TestChecksumFile reads what chromogenic-convert writes, and nothing that does not name the
// file or is not hex.
func TestChecksumFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "d.qcow2")
	for _, c := range []struct{ content, want string }{
		{"0123abcd  d.qcow2\n", "sha256:0123abcd"},
		{"0123abcd  other.qcow2\n", ""},
		{"0123ABCZ  d.qcow2\n", ""},
		{"", ""},
	} {
		if err := os.WriteFile(p+".sha256", []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := ChecksumFile(p, "sha256"); got != c.want {
			t.Errorf("%q: %q, want %q", c.content, got, c.want)
		}
	}
	if got := ChecksumFile(p, "md5"); got != "" {
		t.Errorf("missing file: %q", got)
	}
}
