package openstack

import (
	"context"
	"fmt"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	"github.com/chromogenic/packer-plugin-chromogenic/common/progress"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/transfer"
)

// StepDownload brings the source image (the snapshot, or the source image) from Glance into
// the sparse raw working copy through cloud.BringHome, verifying Glance's hash: a raw image
// streamed, a qcow2 image (what Nova snapshots are) read in place through Range requests with
// each byte of the file fetched once, vmdk and vhd spooled then converted.
//
// The working copy's block map is made on the way (bcommon.StateCaptureMap: StepProvenance
// records the blocks the build changes after). With base_provenance the working copy starts
// as a copy of the base's and only the blocks of the (whole) download that differ from it
// are written (transfer.HomeOptions.Base), after the base is found to be of the same source.
//
// The intermediate snapshot is deleted as soon as its data is home, unless kept.
//
// Produces: working_image string, bcommon.StateCaptureMap, bcommon.StateProvenanceBase (a
// base used)
type StepDownload struct {
	Config       *Config
	Target       string
	KeepSnapshot bool
}

func (s *StepDownload) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	clients := state.Get("clients").(*cloud.Clients)
	img := state.Get("source_image").(*images.Image)

	o := cloud.BringHomeOptions{
		Mode: bcommon.FileMode(state),
		Stage: func(name string) (transfer.Progress, func()) {
			bar := progress.NewLazy(ui, name)
			return bar.Update, bar.Close
		},
		Say: ui.Message,
		Map: true,
	}
	var record string
	if c := s.Config; c != nil && c.baseRecord != nil {
		record = bcommon.AbsPath(c.BaseProvenance)
		if err := sameSource(c.baseRecord.Source, provenanceSource(c)(state), img, record); err != nil {
			return bcommon.Halt(state, err)
		}
		o.Base = c.baseRecord.WorkingCopy
		ui.Say(fmt.Sprintf("Downloading image %s (%s, %d MiB) whole, updating a copy of the base working copy %s (base_provenance %s) into %s...",
			img.ID, img.DiskFormat, img.SizeBytes>>20, o.Base.Path, record, s.Target))
	} else {
		ui.Say(fmt.Sprintf("Downloading image %s (%s, %d MiB) to the working copy %s...", img.ID, img.DiskFormat, img.SizeBytes>>20, s.Target))
	}
	st, err := cloud.BringHome(ctx, clients.Image, img, s.Target, o)
	if err != nil {
		return bcommon.Halt(state, err)
	}
	ui.Message(st.String())
	if record != "" {
		bcommon.SayUpdate(ui, record, st)
		if st.Update != nil {
			state.Put(bcommon.StateProvenanceBase, record)
		}
	}
	if st.Map != nil {
		state.Put(bcommon.StateCaptureMap, st.Map)
	}
	state.Put(bcommon.StateWorkingImage, s.Target)

	if id, ok := state.GetOk("snapshot_id"); ok && !s.KeepSnapshot {
		ui.Say(fmt.Sprintf("Deleting the intermediate snapshot %s...", id))
		if err := cloud.DeleteImage(ctx, clients.Image, id.(string)); err != nil {
			ui.Error(err.Error())
		}
	}
	return multistep.ActionContinue
}

func (s *StepDownload) Cleanup(multistep.StateBag) {}
