package ec2

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/packerbuilderdata"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	ec2common "github.com/chromogenic/packer-plugin-chromogenic/common/ec2"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
)

// StepRegister writes the working copy into a new snapshot through the EBS direct API and
// registers it as the new AMI (cloud.Publish), with the source image's architecture, boot
// mode, ENA support and root device name unless the configuration overrides them. Whatever it
// made is deleted when a later part fails: no orphan snapshot or AMI is left.
//
// Produces: ami string, snapshot_id string
type StepRegister struct {
	Config *Config
}

func (s *StepRegister) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	cl := state.Get("clients").(*cloud.Clients)
	c := s.Config
	src := state.Get("source_image").(*types.Image)
	// Keep the source's root volume size when it is larger than its snapshot.
	_, rootGiB, _ := cloud.RootSnapshot(src)
	enc, ok := state.Get(stateEncryption).(ec2common.Encryption)
	if !ok { // StepPreValidate settles it; never register without knowing the source's encryption
		return bcommon.Halt(state, errors.New("internal: the new AMI's encryption was not settled (StepPreValidate)"))
	}
	others, err := otherDisks(state)
	if err != nil {
		return bcommon.Halt(state, err)
	}
	defer func() {
		for _, o := range others {
			o.Image.Close()
		}
	}()
	return publishWorking(state, "upload", func(img diskimage.Image, working string, rep cloud.Report) (string, string, error) {
		res, err := cloud.Publish(ctx, cl, img, working, cloud.PublishOptions{
			Others:        others,
			VolumeSizeGiB: rootGiB,
			Name:          c.AMIName, Description: c.AMIDescription, Tags: c.Tags, SnapshotTags: c.SnapshotTags,
			Source: src, BootMode: c.BootMode, ENA: c.ENASupport, RootDeviceName: c.RootDeviceName,
			VolumeType: c.VolumeType, IMDSSupport: c.IMDSSupport, Concurrency: c.EBSConcurrency,
			StateTimeout: c.StateTimeout, Report: rep,
			Encrypted: enc.Encrypted, KMSKeyID: enc.KMSKeyID, Replace: replaceOptions(c, state),
		})
		if err != nil {
			return "", "", err
		}
		if len(res.Snapshots) > 1 {
			state.Put(stateSnapshotIDs, res.Snapshots)
		}
		return res.ImageID, res.SnapshotID, nil
	})
}

// stateSnapshotIDs holds every disk's new snapshot ([]string, the root's first) when the
// AMI maps several disks.
const stateSnapshotIDs = "snapshot_ids"

// otherDisks opens the working copies of the other disks of a capture of several disks
// (working_images after the first) for Publish, each mapped at its source device name with
// its source volume type, size, IOPS, throughput and delete-on-termination. The caller
// closes the images.
func otherDisks(state multistep.StateBag) ([]cloud.OtherDisk, error) {
	paths, _ := state.Get(bcommon.StateWorkingImages).([]string)
	disks, _ := state.Get(stateSourceDisks).([]cloud.Disk)
	if len(paths) < 2 {
		return nil, nil
	}
	if len(disks) != len(paths) {
		return nil, fmt.Errorf("internal: %d working copies for %d source disks", len(paths), len(disks))
	}
	var out []cloud.OtherDisk
	for i, p := range paths[1:] {
		d := disks[i+1]
		img, err := diskimage.OpenFormat(p, "raw")
		if err != nil {
			for _, o := range out {
				o.Image.Close()
			}
			return nil, fmt.Errorf("open %s: %w", p, err)
		}
		out = append(out, cloud.OtherDisk{Image: img, Label: fmt.Sprintf("%s (disk %d, %s)", p, i+2, d.Device), Device: d.Device,
			VolumeSizeGiB: d.VolumeSizeGiB, VolumeType: d.VolumeType, DeleteOnTermination: d.DeleteOnTermination,
			Iops: d.Iops, Throughput: d.Throughput})
	}
	return out, nil
}

// publishWorking opens the builder's raw working copy (raw by declaration: its first sector
// is the guest's), publishes it with a progress report labelled label, and records the new
// image and snapshot in the state and the generated data.
func publishWorking(state multistep.StateBag, label string, publish func(img diskimage.Image, working string, rep cloud.Report) (image, snapshot string, err error)) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	working := state.Get(bcommon.StateWorkingImage).(string)
	img, err := diskimage.OpenFormat(working, "raw")
	if err != nil {
		return bcommon.Halt(state, fmt.Errorf("open %s: %w", working, err))
	}
	defer img.Close()
	rep := ec2common.NewUIReport(ui, label)
	defer rep.Close()
	id, snap, err := publish(img, working, rep.Report())
	if err != nil {
		return bcommon.Halt(state, err)
	}
	state.Put("ami", id)
	state.Put("snapshot_id", snap)
	gd := &packerbuilderdata.GeneratedData{State: state}
	gd.Put("ImageID", id)
	gd.Put("SnapshotID", snap)
	return multistep.ActionContinue
}

// Cleanup deletes the new AMI and its snapshot when the build fails after it (sharing,
// region copies): the AMI is handed on only with the artifact of a build that succeeded.
func (s *StepRegister) Cleanup(state multistep.StateBag) { discardRegistered(state) }

// discardRegistered deletes what the registration step put in the state (ami, snapshot_id,
// bundle_bucket and bundle_keys) when the build was cancelled or halted after it.
func discardRegistered(state multistep.StateBag) {
	ami, ok := state.Get("ami").(string)
	if !ok || ami == "" || !buildFailed(state) {
		return
	}
	ui := state.Get("ui").(packersdk.Ui)
	cl := state.Get("clients").(*cloud.Clients)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ui.Say(fmt.Sprintf("Deleting %s (the build did not succeed)...", ami))
	snap, _ := state.Get("snapshot_id").(string)
	var extra []string
	if snap != "" {
		extra = append(extra, snap)
	}
	others, _ := state.Get(stateSnapshotIDs).([]string)
	extra = append(extra, others...)
	if err := cloud.DeleteImage(ctx, cl.EC2, ami, extra...); err != nil {
		ui.Error(err.Error())
	}
	if keys, _ := state.Get("bundle_keys").([]string); len(keys) > 0 {
		bucket, _ := state.Get("bundle_bucket").(string)
		if err := cloud.DeleteObjects(ctx, cl.S3, bucket, keys); err != nil {
			ui.Error(err.Error())
		}
	}
	state.Remove("ami")
}
