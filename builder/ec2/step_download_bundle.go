package ec2

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	"github.com/chromogenic/packer-plugin-chromogenic/common/progress"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
)

// StepDownloadBundle brings the source bundle (made by StepBundleInstance, or the one the
// source EMI was registered from) home: the manifest and parts are read through S3, checked
// (signature, part digests, image digest), decrypted with the user's (or the cloud's) key and
// unpacked, streamed, into the sparse raw working copy.
//
// Produces: working_image string, source_manifest *bundle.Manifest
type StepDownloadBundle struct {
	Config *Config
	Target string
}

func (s *StepDownloadBundle) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	cl := state.Get("clients").(*cloud.Clients)
	c := s.Config
	loc, _ := state.Get("bundle_location").(string)
	if loc == "" {
		img := state.Get("source_image").(*types.Image)
		loc = aws.ToString(img.ImageLocation)
	}
	f, err := bcommon.CreateFile(state, s.Target)
	if err != nil {
		return bcommon.Halt(state, err)
	}
	ui.Say(fmt.Sprintf("Downloading and unbundling %s into %s...", loc, s.Target))
	var bar *progress.Bar
	start := time.Now()
	m, err := cloud.DownloadBundle(ctx, cl, loc, c.Eucalyptus.Keys(), f, func(done, total int64) {
		if bar == nil {
			bar = progress.New(ui, "unbundle", total)
		}
		bar.Update(done, total)
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
	ui.Message(fmt.Sprintf("%s: %d MiB image from %d parts (%d MiB) in %s", m.Name, m.Size>>20, len(m.Parts), m.BundledSize>>20, time.Since(start).Round(time.Millisecond)))
	state.Put(bcommon.StateWorkingImage, s.Target)
	state.Put("source_arch", m.Architecture)
	state.Put("source_manifest", m)
	if _, ok := state.GetOk("instance"); ok && !c.KeepIntermediateImage {
		bucket, key, _ := cloud.Location(loc)
		if err := deleteBundlePrefix(ctx, cl, bucket, strings.TrimSuffix(key, ".manifest.xml")); err != nil {
			ui.Error(err.Error()) // StepBundleInstance's cleanup tries again
		} else {
			state.Put("intermediate_deleted", true)
		}
	}
	return multistep.ActionContinue
}

func (s *StepDownloadBundle) Cleanup(multistep.StateBag) {}
