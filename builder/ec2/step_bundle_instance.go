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
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
)

// StepBundleInstance bundles the Eucalyptus instance-store instance to capture into the
// configured bucket with BundleInstance and waits for the task. The bundle is deleted by
// StepDownloadBundle once its data is home (or here on failure) unless
// keep_intermediate_image is set. The instance keeps running, untouched. A base_provenance
// of another source is refused here, before the cloud is asked to bundle anything.
//
// Produces: bundle_location string
type StepBundleInstance struct {
	Config *Config
	bucket string
	prefix string
}

func (s *StepBundleInstance) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	inst := state.Get("instance").(*types.Instance)
	ui := state.Get("ui").(packersdk.Ui)
	cl := state.Get("clients").(*cloud.Clients)
	c := s.Config
	iid := aws.ToString(inst.InstanceId)
	if c.baseRecord != nil {
		if err := sameLineage(c.baseRecord.Source, captureSource(ctx, state, ""), absPath(c.BaseProvenance)); err != nil {
			return bcommon.Halt(state, err)
		}
	}
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
