package ec2

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	"github.com/chromogenic/packer-plugin-chromogenic/common/progress"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2/bundle"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/transfer"
)

// StepDownloadBundle brings the source bundle (made by StepBundleInstance, or the one the
// source EMI was registered from) home: the manifest and parts are read through S3, checked
// (signature, part digests, image digest), decrypted with the user's (or the cloud's) key and
// unpacked, streamed, into the sparse raw working copy, each block hashed on the way for the
// capture's provenance record; with base_provenance into a copy of the base's working copy,
// only the blocks that differ (bringHomeWhole).
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
	ui.Say(fmt.Sprintf("Downloading and unbundling %s into %s...", loc, s.Target))
	var m *bundle.Manifest
	bar := progress.NewLazy(ui, "unbundle")
	st, base, err := bringHomeWhole(ctx, state, c, s.Target, "", transfer.FromOrdered(
		func(ctx context.Context, dst transfer.Sink, progress transfer.Progress) (int64, error) {
			var err error
			if m, err = cloud.DownloadBundle(ctx, cl, loc, c.Eucalyptus.Keys(), dst, progress); err != nil {
				return 0, err
			}
			return m.BundledSize, nil
		}), bar.Update)
	bar.Close()
	if err != nil {
		return bcommon.Halt(state, err)
	}
	ui.Message(fmt.Sprintf("%s: %d parts; %s", m.Name, len(m.Parts), st))
	state.Put(bcommon.StateWorkingImage, s.Target)
	if err := writeCaptureRecord(ctx, state, s.Target, []cloud.Disk{{Root: true}}, []*provenance.BlockMap{st.Map}, base); err != nil {
		return bcommon.Halt(state, err)
	}
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
