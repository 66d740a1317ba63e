package ec2

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/packerbuilderdata"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	"github.com/chromogenic/packer-plugin-chromogenic/common/progress"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/transfer"
)

// StepDownload (capture_method ebs-direct) reads the source image's root snapshot through the
// EBS direct API, in parallel with a SHA-256 check per block, into the sparse raw working
// copy. With disks = "all" it reads every EBS disk of the image (cloud.ImageDisks: the root
// first, then the others in the kernel's order of their device names), each into a working
// copy of its own (bcommon.DiskPaths: Target, then Target with -disk<N>), and skips the
// mappings that are no EBS snapshot with a line each. The intermediate AMI of an instance
// capture is deleted as soon as its data is home, unless kept.
//
// Produces: working_image string, working_images []string and source_disks []cloud.Disk
// (several disks), source_volume_gib int64
type StepDownload struct {
	Config *Config
	Target string
}

// stateSourceDisks holds the source's disks a capture of several disks brought home
// ([]cloud.Disk, in the order of working_images): StepRegister maps the new snapshots at
// their device names.
const stateSourceDisks = "source_disks"

func (s *StepDownload) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	c := s.Config
	img := state.Get("source_image").(*types.Image)
	snap, _, err := cloud.RootSnapshot(img)
	if err != nil {
		return bcommon.Halt(state, err)
	}
	(&packerbuilderdata.GeneratedData{State: state}).Put("SourceSnapshot", snap)
	disks := []cloud.Disk{{Device: aws.ToString(img.RootDeviceName), SnapshotID: snap, Root: true}}
	if c.Disks == DisksAll {
		var skipped []string
		disks, skipped, err = cloud.ImageDisks(img)
		if err != nil {
			return bcommon.Halt(state, fmt.Errorf("disks = \"all\": %w", err))
		}
		for _, sk := range skipped {
			ui.Message("Not captured: " + sk)
		}
		var devs []string
		for _, d := range disks {
			devs = append(devs, d.Device)
		}
		ui.Say(fmt.Sprintf("Capturing %d disks of %s (disks = \"all\"): %s", len(disks), aws.ToString(img.ImageId), strings.Join(devs, ", ")))
	}
	paths := bcommon.DiskPaths(s.Target, len(disks))
	var (
		maps []*provenance.BlockMap
		base string
	)
	for i, d := range disks {
		what := "root"
		if i > 0 {
			what = fmt.Sprintf("disk %d, %s", i+1, d.Device)
		}
		var (
			gib int64
			m   *provenance.BlockMap
			err error
		)
		if c.baseRecord != nil {
			if i == 0 {
				if err := sameLineage(c.baseRecord.Source, captureSource(ctx, state, d.SnapshotID), c.BaseProvenance); err != nil {
					return bcommon.Halt(state, err)
				}
			}
			// nil map and no error: the base cannot be used (said why), a full download follows.
			if b, ok, why := baseOf(c.baseRecord, i, d.Device); ok {
				gib, m, err = s.recapture(ctx, state, b, what, d.SnapshotID, aws.ToString(img.ImageId), paths[i])
			} else {
				ui.Message(fmt.Sprintf("%s: downloaded in full (%s)", what, why))
			}
			if m != nil {
				base, _ = filepath.Abs(c.BaseProvenance)
			}
		}
		if m == nil && err == nil {
			gib, m, err = s.download(ctx, state, d.SnapshotID, what, aws.ToString(img.ImageId), paths[i])
		}
		if err != nil {
			return bcommon.Halt(state, err)
		}
		if i == 0 {
			state.Put("source_volume_gib", gib)
		}
		maps = append(maps, m)
	}
	state.Put(bcommon.StateWorkingImage, paths[0])
	if len(paths) > 1 {
		state.Put(bcommon.StateWorkingImages, paths)
		state.Put(stateSourceDisks, disks)
	}
	if err := writeCaptureRecord(ctx, state, paths[0], disks, maps, base); err != nil {
		return bcommon.Halt(state, err)
	}

	releaseIntermediate(ctx, state, c.KeepIntermediateImage)
	return multistep.ActionContinue
}

// download brings one snapshot home into target; it returns the volume's size in GiB and the
// block map of target (made from the checksums the download checked).
func (s *StepDownload) download(ctx context.Context, state multistep.StateBag, snap, what, image, target string) (int64, *provenance.BlockMap, error) {
	ui := state.Get("ui").(packersdk.Ui)
	cl := state.Get("clients").(*cloud.Clients)
	ui.Say(fmt.Sprintf("Downloading snapshot %s (%s of %s) through the EBS direct API into %s...", snap, what, image, target))
	var (
		ts cloud.TransferStats
		m  *provenance.BlockMap
	)
	bar := progress.NewLazy(ui, "download "+snap)
	st, err := transfer.BringHome(ctx, target, bcommon.FileMode(state), transfer.FromFunc(
		func(ctx context.Context, f *os.File, progress transfer.Progress) (int64, error) {
			var err error
			m, ts, err = cloud.DownloadSnapshotMap(ctx, cl.EBS, snap, f, cloud.TransferOptions{
				Workers:  s.Config.EBSConcurrency,
				Progress: progress,
				Logf:     func(format string, args ...any) { ui.Message(fmt.Sprintf(format, args...)) },
			})
			return ts.Bytes, err
		}), bar.Update)
	bar.Close()
	if err != nil {
		return 0, nil, err
	}
	ui.Message(fmt.Sprintf("%s; %d blocks of a %d GiB volume, %d retries", st, ts.Blocks, ts.VolumeSize/cloud.GiB, ts.Retries))
	m.Path, _ = filepath.Abs(target)
	return ts.VolumeSize / cloud.GiB, m, nil
}

func (s *StepDownload) Cleanup(multistep.StateBag) {}
