package ec2

import (
	"context"
	"fmt"
	"slices"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
)

// StepRecordOutputs (last, once published) adds what the build published to its provenance
// record: the AMI and each disk's snapshot (Disk: the disk's index, 0 the root), and every
// regional copy (ami_regions) with its snapshots. Without a record it does nothing.
//
// Needs: ami, snapshot_id (or snapshot_ids), and region_copies after StepRegionCopy.
type StepRecordOutputs struct {
	Config *Config
}

// stateRegionCopies holds StepRegionCopy's copies (map[string]*cloud.Published by region).
const stateRegionCopies = "region_copies"

func (s *StepRecordOutputs) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ami, ok := state.Get("ami").(string)
	if !ok || ami == "" {
		return multistep.ActionContinue
	}
	cl := state.Get("clients").(*cloud.Clients)
	kind := "aws"
	if s.Config.IsEucalyptus() {
		kind = "eucalyptus"
	}
	snaps, _ := state.Get(stateSnapshotIDs).([]string)
	if len(snaps) == 0 {
		if sn, _ := state.Get("snapshot_id").(string); sn != "" {
			snaps = []string{sn}
		}
	}
	outs := published(kind, cl.Region, ami, snaps)
	copies, _ := state.Get(stateRegionCopies).(map[string]*cloud.Published)
	for _, r := range sortedRegions(copies) {
		p := copies[r]
		cs := p.Snapshots
		if len(cs) == 0 && p.SnapshotID != "" {
			cs = []string{p.SnapshotID}
		}
		outs = append(outs, published(kind, r, p.ImageID, cs)...)
	}
	if err := bcommon.AddProvenanceOutputs(state, outs...); err != nil {
		return bcommon.Halt(state, fmt.Errorf("provenance: %w", err))
	}
	if _, ok := state.Get(bcommon.StateProvenanceRecord).(*provenance.Record); ok {
		state.Get("ui").(packersdk.Ui).Message(fmt.Sprintf("Provenance record: %d published objects added", len(outs)))
	}
	return multistep.ActionContinue
}

func (s *StepRecordOutputs) Cleanup(multistep.StateBag) {}

// published is an image and its snapshots (the root's first) as record outputs.
func published(cloudName, region, image string, snaps []string) []provenance.Output {
	outs := []provenance.Output{{Cloud: cloudName, Region: region, Kind: "image", ID: image}}
	for i, sn := range snaps {
		outs = append(outs, provenance.Output{Cloud: cloudName, Region: region, Kind: "snapshot", ID: sn, Disk: i})
	}
	return outs
}

func sortedRegions(m map[string]*cloud.Published) []string {
	var out []string
	for r := range m {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}
