package ec2

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/packerbuilderdata"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	"github.com/chromogenic/packer-plugin-chromogenic/common/progress"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/transfer"
)

// StepDownload (capture_method ebs-direct) reads the source image's root snapshot through the
// EBS direct API, in parallel with a SHA-256 check per block, into the sparse raw working
// copy. The intermediate AMI of an instance capture is deleted as soon as its data is home,
// unless kept.
//
// Produces: working_image string, source_volume_gib int64
type StepDownload struct {
	Config *Config
	Target string
}

func (s *StepDownload) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	cl := state.Get("clients").(*cloud.Clients)
	c := s.Config
	img := state.Get("source_image").(*types.Image)
	snap, _, err := cloud.RootSnapshot(img)
	if err != nil {
		return bcommon.Halt(state, err)
	}
	(&packerbuilderdata.GeneratedData{State: state}).Put("SourceSnapshot", snap)
	ui.Say(fmt.Sprintf("Downloading snapshot %s (root of %s) through the EBS direct API into %s...", snap, aws.ToString(img.ImageId), s.Target))
	var ts cloud.TransferStats
	bar := progress.NewLazy(ui, "download "+snap)
	st, err := transfer.BringHome(ctx, s.Target, bcommon.FileMode(state), transfer.FromFunc(
		func(ctx context.Context, f *os.File, progress transfer.Progress) (int64, error) {
			var err error
			ts, err = cloud.DownloadSnapshot(ctx, cl.EBS, snap, f, cloud.TransferOptions{
				Workers:  c.EBSConcurrency,
				Progress: progress,
				Logf:     func(format string, args ...any) { ui.Message(fmt.Sprintf(format, args...)) },
			})
			return ts.Bytes, err
		}), bar.Update)
	bar.Close()
	if err != nil {
		return bcommon.Halt(state, err)
	}
	ui.Message(fmt.Sprintf("%s; %d blocks of a %d GiB volume, %d retries", st, ts.Blocks, ts.VolumeSize/cloud.GiB, ts.Retries))
	state.Put(bcommon.StateWorkingImage, s.Target)
	state.Put("source_volume_gib", ts.VolumeSize/cloud.GiB)

	releaseIntermediate(ctx, state, c.KeepIntermediateImage)
	return multistep.ActionContinue
}

func (s *StepDownload) Cleanup(multistep.StateBag) {}
