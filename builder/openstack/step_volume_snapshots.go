package openstack

import (
	"context"
	"fmt"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/uuid"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
)

// stateVolumeDisks is the state key of disks = "all": []*volumeDisk, the server's attached
// volumes in device order, with the temporaries each one is copied through.
const stateVolumeDisks = "volume_disks"

// volumeDisk is one attached Cinder volume of the server and its temporary copies: a
// snapshot of it, a volume made from the snapshot, a Glance image uploaded from that volume.
type volumeDisk struct {
	VolumeID   string
	Device     string
	Size       int // GiB
	SnapshotID string
	CopyID     string
	ImageID    string
}

// tempDescription marks what a build makes only to copy a volume.
func tempDescription(volumeID string) string {
	return fmt.Sprintf("temporary copy of volume %s made by a chromogenic-openstack build (disks = \"all\"); deleted when the build ends", volumeID)
}

// StepVolumeSnapshots (disks = "all") lists the Cinder volumes attached to the server and
// takes a snapshot of each (forced: they are in use), right after the root disk's Nova
// snapshot, and waits until each is available. The user's volumes are only read.
//
// Produces: volume_disks []*volumeDisk (with SnapshotID)
type StepVolumeSnapshots struct {
	Config  *Config
	created []string
}

func (s *StepVolumeSnapshots) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	clients := state.Get("clients").(*cloud.Clients)
	srv := state.Get("server").(*servers.Server)
	atts, err := cloud.ServerVolumes(ctx, clients.Compute, srv.ID)
	if err != nil {
		return bcommon.Halt(state, err)
	}
	if len(atts) == 0 {
		ui.Say(fmt.Sprintf("disks = \"all\": server %s has no volumes attached: capturing its root disk only", srv.ID))
		return multistep.ActionContinue
	}
	bs, err := cloud.BlockStorage(clients)
	if err != nil {
		return bcommon.Halt(state, err)
	}
	name := "chromogenic-" + uuid.TimeOrderedUUID()
	var disks []*volumeDisk
	for i, a := range atts {
		v, err := volumes.Get(ctx, bs, a.VolumeID).Extract()
		if err != nil {
			return bcommon.Halt(state, fmt.Errorf("volume %s (%s) of server %s: %w", a.VolumeID, a.Device, srv.ID, err))
		}
		d := &volumeDisk{VolumeID: v.ID, Device: a.Device, Size: v.Size}
		ui.Say(fmt.Sprintf("Snapshotting volume %s (%s, %d GiB, disk %d)...", v.ID, a.Device, v.Size, i+2))
		id, err := cloud.SnapshotVolume(ctx, bs, v.ID, fmt.Sprintf("%s-disk%d", name, i+2), tempDescription(v.ID))
		if err != nil {
			return bcommon.Halt(state, err)
		}
		s.created = append(s.created, id)
		d.SnapshotID = id
		disks = append(disks, d)
	}
	state.Put(stateVolumeDisks, disks)
	wctx, cancel := context.WithTimeout(ctx, s.Config.StateTimeout)
	defer cancel()
	for _, d := range disks {
		start := time.Now()
		if _, err := cloud.WaitSnapshot(wctx, bs, d.SnapshotID, func(st string) {
			ui.Message(fmt.Sprintf("Volume snapshot %s: %s (%s)", d.SnapshotID, st, time.Since(start).Round(time.Second)))
		}); err != nil {
			return bcommon.Halt(state, cloud.TimeoutErr(ctx, err, "state_timeout", s.Config.StateTimeout))
		}
	}
	return multistep.ActionContinue
}

// Cleanup deletes the snapshots this step took (they are never the result).
func (s *StepVolumeSnapshots) Cleanup(state multistep.StateBag) {
	deleteTemporaries(state, "volume snapshot", s.created, cloud.DeleteVolumeSnapshot)
}
