package openstack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact"
	openstackcommon "github.com/chromogenic/packer-plugin-chromogenic/common/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/hostfile"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
)

// StepSnapshotProvenance writes snapshot mode's provenance record once the snapshot is active
// (before StepFinishSnapshot publishes it, so that a record that cannot be written fails the
// build while the snapshot is still the build's to delete): the server, the image it booted
// from and the snapshot as the source; the snapshot, as Glance reports it (ID, disk format,
// size, checksum), as the output. No byte of the image comes home, so the record has no
// block map.
//
// It is output_directory/openstack-image-<id>.provenance.json, as chromogenic-openstack-import
// names its record: the directory is created if missing, never emptied (the records of
// earlier snapshots stay, each with its image). The record stays with the image it describes:
// the artifact names it (state, HCP labels) but does not list it in Files, so no Destroy
// removes it. A failed build removes it with the snapshot.
//
// Needs: source_image (the active snapshot). Produces: artifact.BuildProvenance,
// bcommon.StateProvenanceRecord.
type StepSnapshotProvenance struct {
	Config *Config
	path   string
}

func (s *StepSnapshotProvenance) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	c := s.Config
	img := state.Get("source_image").(*images.Image)
	r := provenance.New("chromogenic-openstack")
	r.Source = provenanceSource(c)(state)
	r.Outputs = []provenance.Output{openstackcommon.ProvenanceOutput(c.Cloud, c.Region, img)}
	mode := c.HostFileMode()
	if _, err := hostfile.MkdirAll(c.OutputDir, hostfile.DirMode(mode)); err != nil {
		return bcommon.Halt(state, fmt.Errorf("output_directory: %w", err))
	}
	path := provenance.SidecarPath(filepath.Join(c.OutputDir, "openstack-image-"+img.ID))
	p, err := artifact.WriteProvenance(r, path, mode)
	if err != nil {
		return bcommon.Halt(state, err)
	}
	s.path = path
	state.Put(bcommon.StateProvenanceRecord, r)
	state.Put(artifact.BuildProvenance, p)
	ui.Say("Provenance record written: " + path)
	return multistep.ActionContinue
}

// Cleanup removes the record when the build failed (StepSnapshot deletes the snapshot).
func (s *StepSnapshotProvenance) Cleanup(state multistep.StateBag) {
	if s.path != "" && bcommon.Failed(state) {
		os.Remove(s.path)
	}
}
