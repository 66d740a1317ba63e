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
	"github.com/hashicorp/packer-plugin-sdk/packerbuilderdata"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	ec2common "github.com/chromogenic/packer-plugin-chromogenic/common/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/common/progress"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
)

// StepBundleInstance bundles the Eucalyptus instance-store instance to capture into the
// configured bucket with BundleInstance and waits for the task. The bundle is deleted by
// StepDownloadBundle once its data is home (or here on failure) unless
// keep_intermediate_image is set. The instance keeps running, untouched.
//
// Produces: bundle_location string
type StepBundleInstance struct {
	Config *Config
	bucket string
	prefix string
}

func (s *StepBundleInstance) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	raw, ok := state.GetOk("instance")
	if !ok || captureMethod(state) != CaptureBundle {
		return multistep.ActionContinue // starting from an EMI, or not a bundle capture
	}
	inst := raw.(*types.Instance)
	ui := state.Get("ui").(packersdk.Ui)
	cl := state.Get("clients").(*cloud.Clients)
	c := s.Config
	iid := aws.ToString(inst.InstanceId)
	s.bucket, s.prefix = c.Eucalyptus.Bucket, fmt.Sprintf("chromogenic-%s-%d", iid, time.Now().Unix())
	if err := cloud.EnsureBucket(ctx, cl.S3, s.bucket); err != nil {
		return bcommon.Halt(state, err)
	}
	ui.Say(fmt.Sprintf("Bundling instance %s into %s/%s with BundleInstance...", iid, s.bucket, s.prefix))
	start := time.Now()
	loc, err := cloud.BundleInstance(ctx, cl, iid, s.bucket, s.prefix, c.StateTimeout, func(f string, a ...any) { ui.Message(fmt.Sprintf(f, a...)) })
	if err != nil {
		return bcommon.Halt(state, err)
	}
	ui.Message(fmt.Sprintf("Bundle %s is complete (%s)", loc, time.Since(start).Round(time.Second)))
	state.Put("bundle_location", loc)
	(&packerbuilderdata.GeneratedData{State: state}).Put("SourceAMI", loc)
	return multistep.ActionContinue
}

// Cleanup deletes the bundle if StepDownloadBundle did not, unless kept.
func (s *StepBundleInstance) Cleanup(state multistep.StateBag) {
	if s.prefix == "" {
		return
	}
	if _, done := state.GetOk("intermediate_deleted"); done {
		return
	}
	_, complete := state.GetOk("bundle_location")
	if s.Config.KeepIntermediateImage && complete {
		return
	}
	ui := state.Get("ui").(packersdk.Ui)
	cl := state.Get("clients").(*cloud.Clients)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := deleteBundlePrefix(ctx, cl, s.bucket, s.prefix); err != nil {
		ui.Error(err.Error())
	}
}

// deleteBundlePrefix deletes the objects of the bundle bucket/prefix.manifest.xml and
// prefix.part.*.
func deleteBundlePrefix(ctx context.Context, cl *cloud.Clients, bucket, prefix string) error {
	keys, err := cloud.ListKeys(ctx, cl.S3, bucket, prefix+".")
	if err != nil {
		return err
	}
	return cloud.DeleteObjects(ctx, cl.S3, bucket, keys)
}

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
	if captureMethod(state) != CaptureBundle {
		return multistep.ActionContinue
	}
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

// StepRegisterEucalyptus registers the working copy on Eucalyptus (cloud.PublishEucalyptus).
//
// Produces: ami string, snapshot_id string, bundle_bucket string, bundle_keys []string
type StepRegisterEucalyptus struct {
	Config *Config
}

func (s *StepRegisterEucalyptus) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	cl := state.Get("clients").(*cloud.Clients)
	c := s.Config
	arch, _ := state.Get("source_arch").(string)
	if img, ok := state.Get("source_image").(*types.Image); ok && arch == "" {
		arch = string(img.Architecture)
	}
	if inst, ok := state.Get("instance").(*types.Instance); ok && arch == "" {
		arch = string(inst.Architecture)
	}
	working := state.Get(bcommon.StateWorkingImage).(string)
	// The builder's raw working copy: raw by declaration (its first sector is the guest's).
	img, err := diskimage.OpenFormat(working, "raw")
	if err != nil {
		return bcommon.Halt(state, fmt.Errorf("open %s: %w", working, err))
	}
	defer img.Close()
	rep := ec2common.NewUIReport(ui, "bundle")
	defer rep.Close()
	res, err := cloud.PublishEucalyptus(ctx, cl, img, working, c.Eucalyptus.PublishOptions(cloud.EucaPublishOptions{
		Name: c.AMIName, Description: c.AMIDescription, Tags: c.Tags, SnapshotTags: c.SnapshotTags,
		Architecture: arch, RootDeviceName: c.RootDeviceName, VolumeType: c.VolumeType,
		StateTimeout: c.StateTimeout, Report: rep.Report(),
	}))
	if err != nil {
		return bcommon.Halt(state, err)
	}
	state.Put("ami", res.ImageID)
	state.Put("snapshot_id", res.SnapshotID)
	state.Put("bundle_bucket", res.Bucket)
	state.Put("bundle_keys", res.Keys)
	gd := &packerbuilderdata.GeneratedData{State: state}
	gd.Put("ImageID", res.ImageID)
	gd.Put("SnapshotID", res.SnapshotID)
	return multistep.ActionContinue
}

func (s *StepRegisterEucalyptus) Cleanup(multistep.StateBag) {}
