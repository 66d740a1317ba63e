package openstack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact"
	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact/hcptest"
	openstackcommon "github.com/chromogenic/packer-plugin-chromogenic/common/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
)

// TestSnapshotProvenance: snapshot mode's record (no working copy, so no block map) names
// the server, the image it booted from and the snapshot, and the snapshot as Glance reports
// it as the output; it is output_directory/openstack-image-<id>.provenance.json (the
// directory made), named in the artifact's state and the Glance image's HCP labels with its
// SHA-256, not among the artifact's files (Destroy leaves it with the image). A failed build
// removes it.
func TestSnapshotProvenance(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	snap := &images.Image{ID: "snap-1", Name: "captured", DiskFormat: "qcow2", SizeBytes: 123456, Checksum: "d41d8cd9",
		Properties: map[string]any{"os_hash_algo": "sha512", "os_hash_value": "cf83e135"}}
	cfg := &Config{AccessConfig: openstackcommon.AccessConfig{Cloud: "aio-a"}, Mode: "snapshot", OutputDir: out}
	run := func() (*multistep.BasicStateBag, *StepSnapshotProvenance) {
		state := new(multistep.BasicStateBag)
		state.Put("ui", packersdk.TestUi(t))
		state.Put("server", &servers.Server{ID: "srv-1", Image: map[string]interface{}{"id": "img-base"}})
		state.Put("snapshot_id", snap.ID)
		state.Put("source_image", snap)
		step := &StepSnapshotProvenance{Config: cfg}
		if a := step.Run(context.Background(), state); a != multistep.ActionContinue {
			t.Fatalf("run: %v", state.Get("error"))
		}
		return state, step
	}
	state, _ := run()
	path := filepath.Join(out, "openstack-image-snap-1.provenance.json")
	r, err := provenance.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	s := r.Source
	if r.Producer != "chromogenic-openstack" || s.Cloud != "openstack" || s.Instance != "srv-1" || s.Image != "img-base" ||
		!slices.Equal(s.Snapshots, []string{"snap-1"}) || s.Endpoint != "clouds.yaml:aio-a" {
		t.Errorf("record: producer %s, source %+v", r.Producer, s)
	}
	want := provenance.Output{Cloud: "openstack", Region: "aio-a", Kind: "image", ID: "snap-1", Format: "qcow2", Size: 123456, Checksum: "sha512:cf83e135"}
	if len(r.Outputs) != 1 || r.Outputs[0] != want {
		t.Errorf("outputs %+v, want %+v", r.Outputs, want)
	}
	if r.WorkingCopy != nil || r.OtherDisks != nil || r.Dirty != nil {
		t.Errorf("a block map without a working copy: %+v", r)
	}

	if got, _ := state.Get(bcommon.StateProvenanceRecord).(*provenance.Record); got == nil || got.Outputs[0].ID != "snap-1" {
		t.Errorf("state %s: %+v", bcommon.StateProvenanceRecord, got)
	}
	state.Put("image", snap) // StepFinishSnapshot's
	a := newArtifact(state, cfg)
	sum, _, _ := provenance.FileSHA256(path)
	if a.State(artifact.StateProvenance) != path || a.State(artifact.StateProvenanceSHA256) != sum || a.State(artifact.StateProvenanceInfo) == "" {
		t.Errorf("artifact state: %v %v", a.State(artifact.StateProvenance), a.State(artifact.StateProvenanceSHA256))
	}
	imgs := hcptest.Images(t, a)
	if len(imgs) != 1 || imgs[0].ImageID != "snap-1" || imgs[0].Labels[artifact.LabelProvenance] != path || imgs[0].Labels[artifact.LabelProvenanceSHA256] != sum {
		t.Errorf("HCP images %+v", imgs)
	}
	if rec, p, err := artifact.ProvenanceOf(a); err != nil || rec == nil || p.SHA256 != sum {
		t.Errorf("ProvenanceOf: %v %+v", err, p)
	}
	if len(a.Files()) != 0 {
		t.Errorf("files %v", a.Files())
	}
	if err := a.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("Destroy removed the record: %v", err)
	}

	// A failed build (here, StepFinishSnapshot) removes it; the directory stays.
	state, step := run()
	state.Put("error", errors.New("publish failed"))
	step.Cleanup(state)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("record after a failed build: %v", err)
	}
}
