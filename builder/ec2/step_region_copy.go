package ec2

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	ec2common "github.com/chromogenic/packer-plugin-chromogenic/common/ec2"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
)

// StepRegionCopy copies the new AMI to every region of ami_regions (CopyImage), each copy
// waited for, tagged and shared as the AMI is, encrypted when the AMI is (or with the key of
// region_kms_key_ids). The artifact then lists every region's AMI.
//
// What it made is its own until the artifact exists: when the build fails or is cancelled
// after it (or while it copies), the copies are deregistered and their snapshots deleted,
// as StepRegister's cleanup deletes the AMI itself. Once the build succeeds they are the
// user's and nothing deletes them.
//
// Uses: clients, ami. Produces: amis map[string]string (region → AMI, the build region's
// included), region_snapshots map[string]string.
type StepRegionCopy struct {
	Config *Config

	copies map[string]string // region → AMI copied, for Cleanup
}

func (s *StepRegionCopy) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	cl := state.Get("clients").(*cloud.Clients)
	c := s.Config
	ami := state.Get("ami").(string)
	im, err := cloud.GetImage(ctx, cl.EC2, ami)
	if err != nil {
		return bcommon.Halt(state, err)
	}
	enc := cloud.Encrypted(im)
	var regions []string
	for _, r := range c.AMIRegions {
		if r != cl.Region {
			regions = append(regions, r)
		}
	}
	rep := ec2common.NewUIReport(ui, "copy")
	done, err := cloud.CopyImages(ctx, cl, ami, regions, func(region string) cloud.CopyOptions {
		return c.ShareConfig.CopyOptions(region, c.AMIName, c.AMIDescription, c.Tags, c.SnapshotTags, enc, c.StateTimeout)
	}, rep.Report())
	rep.Close()
	if err != nil {
		return bcommon.Halt(state, err) // CopyImages deleted its copies
	}
	amis := map[string]string{cl.Region: ami}
	snaps := map[string]string{}
	if snap, ok := state.Get("snapshot_id").(string); ok {
		snaps[cl.Region] = snap
	}
	s.copies = map[string]string{}
	var list []string
	for r, p := range done {
		amis[r], snaps[r], s.copies[r] = p.ImageID, p.SnapshotID, p.ImageID
		list = append(list, r+":"+p.ImageID)
	}
	state.Put("amis", amis)
	state.Put(stateRegionCopies, done)
	state.Put("region_snapshots", snaps)
	ui.Message("Copies: " + strings.Join(list, ", "))
	return multistep.ActionContinue
}

// Cleanup deletes the copies when the build did not succeed (see the type's comment).
func (s *StepRegionCopy) Cleanup(state multistep.StateBag) {
	if len(s.copies) == 0 || !buildFailed(state) {
		return
	}
	ui := state.Get("ui").(packersdk.Ui)
	cl := state.Get("clients").(*cloud.Clients)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for r, id := range s.copies {
		ui.Say(fmt.Sprintf("Deleting the copy %s in %s (the build did not succeed)...", id, r))
		if err := cloud.DeleteImage(ctx, cl.EC2In(r), id); err != nil {
			ui.Error(err.Error())
		}
	}
	s.copies = nil
}

// buildFailed tells whether the build was cancelled or halted.
func buildFailed(state multistep.StateBag) bool {
	_, cancelled := state.GetOk(multistep.StateCancelled)
	_, halted := state.GetOk(multistep.StateHalted)
	return cancelled || halted
}

// shareSummary says who the image is shared with.
func shareSummary(s cloud.Share) string {
	var parts []string
	for _, p := range []struct {
		what string
		v    []string
	}{{"accounts", s.Users}, {"groups", s.Groups}, {"organizations", s.OrgARNs}, {"organizational units", s.OUARNs},
		{"snapshot accounts", s.SnapshotUsers}, {"snapshot groups", s.SnapshotGroups}} {
		if len(p.v) > 0 {
			parts = append(parts, p.what+" "+strings.Join(p.v, ", "))
		}
	}
	return "Shared with " + strings.Join(parts, "; ")
}
