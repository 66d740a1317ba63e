package openstack

import (
	"context"
	"fmt"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/packerbuilderdata"
	"github.com/hashicorp/packer-plugin-sdk/uuid"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
)

// StepSnapshot snapshots the server (Nova createImage) and waits until the snapshot is
// active. In snapshot mode the snapshot is the result and gets image_name; in image mode it
// is intermediate, named chromogenic-<uuid>, and deleted unless keep_snapshot. A snapshot
// that never became active is always deleted.
//
// Produces: source_image *images.Image, snapshot_id string
type StepSnapshot struct {
	Config *Config
	id     string
	done   bool
}

func (s *StepSnapshot) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	srvRaw, ok := state.GetOk("server")
	if !ok {
		return multistep.ActionContinue // starting from an image
	}
	srv := srvRaw.(*servers.Server)
	ui := state.Get("ui").(packersdk.Ui)
	clients := state.Get("clients").(*cloud.Clients)
	c := s.Config
	name := "chromogenic-" + uuid.TimeOrderedUUID()
	if c.Mode == "snapshot" {
		name = c.ImageName
	}
	// In image mode the name is unique; in snapshot mode note the server's snapshots that
	// already have it, so that one Nova made behind a failed answer can be told apart.
	before := map[string]bool{}
	if c.Mode == "snapshot" {
		var err error
		if before, err = snapshotsNamed(ctx, clients, srv.ID, name); err != nil {
			return bcommon.Halt(state, err)
		}
	}
	ui.Say(fmt.Sprintf("Creating snapshot %s of server %s...", name, srv.ID))
	id, err := cloud.Snapshot(ctx, clients.Compute, srv.ID, name, nil)
	if err != nil {
		deleteOrphanSnapshots(ui, clients, srv.ID, name, before, err)
		return bcommon.Halt(state, err)
	}
	s.id = id
	state.Put("snapshot_id", id)
	(&packerbuilderdata.GeneratedData{State: state}).Put("SnapshotID", id)
	wctx, cancel := context.WithTimeout(ctx, c.StateTimeout)
	defer cancel()
	start := time.Now()
	img, err := cloud.WaitImage(wctx, clients.Image, id, func(st string) {
		ui.Message(fmt.Sprintf("Snapshot %s: %s (%s)", id, st, time.Since(start).Round(time.Second)))
	})
	if err != nil {
		return bcommon.Halt(state, fmt.Errorf("snapshot of server %s: %w", srv.ID, cloud.TimeoutErr(ctx, err, "state_timeout", c.StateTimeout)))
	}
	if img.SizeBytes == 0 {
		if _, bdm := img.Properties["block_device_mapping"]; bdm {
			return bcommon.Halt(state, fmt.Errorf("server %s boots from a volume: Nova made a 0-byte snapshot that points at Cinder volume snapshots; capturing boot-from-volume servers is not supported yet", srv.ID))
		}
	}
	s.done = true
	state.Put("source_image", img)
	return multistep.ActionContinue
}

// Cleanup deletes the snapshot unless it is the result, or the user keeps it.
func (s *StepSnapshot) Cleanup(state multistep.StateBag) {
	if s.id == "" {
		return
	}
	_, failed := state.GetOk("error")
	_, cancelled := state.GetOk(multistep.StateCancelled)
	c := s.Config
	isResult := c.Mode == "snapshot" && s.done && !failed && !cancelled
	if isResult || (c.KeepSnapshot && s.done) {
		return
	}
	ui := state.Get("ui").(packersdk.Ui)
	clients := state.Get("clients").(*cloud.Clients)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ui.Say(fmt.Sprintf("Deleting snapshot %s...", s.id))
	if err := cloud.DeleteImage(ctx, clients.Image, s.id); err != nil {
		ui.Error(err.Error())
	}
}

var _ = images.Image{}
