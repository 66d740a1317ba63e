package ec2

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/packerbuilderdata"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	"github.com/chromogenic/packer-plugin-chromogenic/common/progress"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
)

// StepRegister writes the working copy into a new snapshot through the EBS direct API and
// registers it as the new AMI, with the source image's architecture, boot mode, ENA support
// and root device name unless the configuration overrides them. Whatever it made is deleted
// when a later part fails: no orphan snapshot or AMI is left.
//
// Produces: ami string, snapshot_id string
type StepRegister struct {
	Config *Config
}

func (s *StepRegister) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	cl := state.Get("clients").(*cloud.Clients)
	c := s.Config
	src := state.Get("source_image").(*types.Image)
	working := state.Get(bcommon.StateWorkingImage).(string)

	// Keep the source's root volume size when it is larger than its snapshot.
	_, rootGiB, _ := cloud.RootSnapshot(src)
	ami, snap, err := Publish(ctx, ui, cl, working, PublishOptions{
		VolumeSizeGiB: rootGiB,
		Name:          c.AMIName, Description: c.AMIDescription, Tags: c.Tags, SnapshotTags: c.SnapshotTags,
		Source: src, BootMode: c.BootMode, ENA: c.ENASupport, RootDeviceName: c.RootDeviceName,
		VolumeType: c.VolumeType, IMDSSupport: c.IMDSSupport, Concurrency: c.EBSConcurrency,
		StateTimeout: c.StateTimeout,
	})
	if err != nil {
		return bcommon.Halt(state, err)
	}
	state.Put("ami", ami)
	state.Put("snapshot_id", snap)
	gd := &packerbuilderdata.GeneratedData{State: state}
	gd.Put("ImageID", ami)
	gd.Put("SnapshotID", snap)
	return multistep.ActionContinue
}

func (s *StepRegister) Cleanup(multistep.StateBag) {}

// PublishOptions describe the AMI Publish registers.
type PublishOptions struct {
	Name, Description      string
	Tags, SnapshotTags     map[string]string
	Source                 *types.Image // attributes to copy, may be nil
	Architecture, BootMode string
	ENA                    *bool
	RootDeviceName         string
	VolumeType             string
	VolumeSizeGiB          int64 // root volume size; raised to the snapshot's when smaller
	IMDSSupport            string
	Concurrency            int
	StateTimeout           time.Duration
}

// Publish uploads the builder's raw working copy (streamed: no temporary copy) into a new
// EBS snapshot and registers it as an AMI. On failure nothing it made is left behind. The
// chromogenic-ec2-import post-processor shares PublishImage.
func Publish(ctx context.Context, ui packersdk.Ui, cl *cloud.Clients, path string, o PublishOptions) (string, string, error) {
	// The builder's raw working copy: raw by declaration (its first sector is the guest's).
	img, err := diskimage.OpenFormat(path, "raw")
	if err != nil {
		return "", "", fmt.Errorf("open %s: %w", path, err)
	}
	defer img.Close()
	return PublishImage(ctx, ui, cl, img, path, o)
}

// PublishImage is Publish of an opened image (the disk inside an OVA, say); path names it
// in messages. It does not close img.
func PublishImage(ctx context.Context, ui packersdk.Ui, cl *cloud.Clients, img diskimage.Image, path string, o PublishOptions) (string, string, error) {
	exts, err := img.Extents(ctx)
	if err != nil {
		return "", "", err
	}
	var data []cloud.Range
	for _, e := range exts {
		if e.Kind == diskimage.Data {
			data = append(data, cloud.Range{Offset: e.Offset, Length: e.Length})
		}
	}
	ui.Say(fmt.Sprintf("Writing %s (%s, %d MiB virtual) into a new snapshot through the EBS direct API...", path, img.Format(), img.Size()>>20))
	var bar *progress.Bar
	start := time.Now()
	snap, st, err := cloud.UploadSnapshot(ctx, cl, img, img.Size(), data, cloud.UploadOptions{
		TransferOptions: cloud.TransferOptions{
			Workers: o.Concurrency,
			Progress: func(done, total int64) {
				if bar == nil {
					bar = progress.New(ui, "upload", total)
				}
				bar.Update(done, total)
			},
			Logf: func(format string, args ...any) { ui.Message(fmt.Sprintf(format, args...)) },
		},
		Description: "chromogenic: " + o.Name,
		Tags:        o.SnapshotTags,
		WaitTimeout: o.StateTimeout,
	})
	if bar != nil {
		bar.Close()
	}
	if err != nil {
		return "", "", err
	}
	secs := max(time.Since(start).Seconds(), 0.001)
	ui.Message(fmt.Sprintf("Snapshot %s completed: %d blocks (%d MiB) in %s, %.0f MiB/s, %d retries",
		snap, st.Blocks, st.Bytes>>20, time.Since(start).Round(time.Millisecond), float64(st.Bytes)/secs/(1<<20), st.Retries))

	size := (img.Size() + cloud.GiB - 1) / cloud.GiB
	n := cloud.NewImage{VolumeSizeGiB: max(o.VolumeSizeGiB, size), Name: o.Name, Description: o.Description, SnapshotID: snap, VolumeType: o.VolumeType,
		Architecture: o.Architecture, BootMode: o.BootMode, RootDeviceName: o.RootDeviceName, ImdsSupport: o.IMDSSupport,
		Tags: o.Tags} // tagged at registration
	if s := o.Source; s != nil {
		if n.Architecture == "" {
			n.Architecture = string(s.Architecture)
		}
		if n.BootMode == "" {
			n.BootMode = string(s.BootMode)
		}
		if n.RootDeviceName == "" {
			n.RootDeviceName = aws.ToString(s.RootDeviceName)
		}
		n.ENA = aws.ToBool(s.EnaSupport)
		n.SriovNetSupport = aws.ToString(s.SriovNetSupport)
		if n.ImdsSupport == "" {
			n.ImdsSupport = string(s.ImdsSupport)
		}
		n.TpmSupport = string(s.TpmSupport)
	}
	if o.ENA != nil {
		n.ENA = *o.ENA
	}
	undo := func(ami string) {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		defer cancel()
		var derr error
		if ami != "" {
			derr = cloud.DeleteImage(dctx, cl.EC2, ami, snap)
		} else {
			derr = cloud.DeleteSnapshot(dctx, cl.EC2, snap)
		}
		if derr != nil {
			ui.Error(fmt.Sprintf("cleaning up after the failure: %v", derr))
		}
	}
	ui.Say(fmt.Sprintf("Registering AMI %q (%s, boot mode %q, ENA %v, root %s)...", n.Name, n.Architecture, n.BootMode, n.ENA, n.RootDeviceName))
	ami, err := cloud.RegisterImage(ctx, cl.EC2, n)
	if err != nil {
		undo("")
		return "", "", err
	}
	if _, err := cloud.WaitImage(ctx, cl.EC2, ami, o.StateTimeout); err != nil {
		undo(ami)
		return "", "", err
	}
	ui.Say(fmt.Sprintf("AMI %s (%s) is available in %s", ami, o.Name, cl.Region))
	return ami, snap, nil
}
