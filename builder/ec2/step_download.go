package ec2

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/packerbuilderdata"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	"github.com/chromogenic/packer-plugin-chromogenic/common/progress"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
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
	f, err := bcommon.CreateFile(state, s.Target)
	if err != nil {
		return bcommon.Halt(state, err)
	}
	var bar *progress.Bar
	start := time.Now()
	st, err := cloud.DownloadSnapshot(ctx, cl.EBS, snap, f, cloud.TransferOptions{
		Workers: c.EBSConcurrency,
		Progress: func(done, total int64) {
			if bar == nil {
				bar = progress.New(ui, "download "+snap, total)
			}
			bar.Update(done, total)
		},
		Logf: func(format string, args ...any) { ui.Message(fmt.Sprintf(format, args...)) },
	})
	if bar != nil {
		bar.Close()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(s.Target)
		return bcommon.Halt(state, err)
	}
	secs := max(time.Since(start).Seconds(), 0.001)
	ui.Message(fmt.Sprintf("%d blocks (%d MiB of a %d GiB volume) in %s, %.0f MiB/s, %d retries",
		st.Blocks, st.Bytes>>20, st.VolumeSize/cloud.GiB, time.Since(start).Round(time.Millisecond), float64(st.Bytes)/secs/(1<<20), st.Retries))
	state.Put(bcommon.StateWorkingImage, s.Target)
	state.Put("source_volume_gib", st.VolumeSize/cloud.GiB)

	releaseIntermediate(ctx, state, c.KeepIntermediateImage)
	return multistep.ActionContinue
}

func (s *StepDownload) Cleanup(multistep.StateBag) {}
