package ec2

import (
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/packerbuilderdata"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	"github.com/chromogenic/packer-plugin-chromogenic/common/progress"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2/bundle"
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

// StepRegisterEucalyptus registers the working copy on Eucalyptus (PublishEucalyptus).
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
	res, err := PublishEucalyptus(ctx, ui, cl, state.Get(bcommon.StateWorkingImage).(string), EucaPublishOptions{
		Name: c.AMIName, Description: c.AMIDescription, Tags: c.Tags, SnapshotTags: c.SnapshotTags,
		Architecture: arch, RootDeviceName: c.RootDeviceName, VolumeType: c.VolumeType,
		StateTimeout: c.StateTimeout, Euca: c.Eucalyptus,
	})
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

// EucaPublishOptions describe the EMI PublishEucalyptus registers.
type EucaPublishOptions struct {
	Name, Description  string
	Tags, SnapshotTags map[string]string
	Architecture       string // default x86_64
	RootDeviceName     string // default /dev/sda
	VolumeType         string // import-volume: the root volume type (default standard)
	StateTimeout       time.Duration
	Euca               *EucalyptusConfig
}

// EucaPublished is what PublishEucalyptus made.
type EucaPublished struct {
	ImageID    string
	SnapshotID string   // import-volume
	Bucket     string   // bundle
	Keys       []string // bundle objects (the image's; deleted with it)
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// PublishEucalyptus registers the builder's raw working copy (streamed) on Eucalyptus: as an
// instance-store bundle uploaded to the bucket and registered with
// RegisterImage(ImageLocation), or with register = "import-volume" through ImportVolume,
// CreateSnapshot and RegisterImage of an EBS-backed HVM image. Only EC2 API 2016-09-15
// parameters are sent; tags are set with CreateTags afterwards. On failure nothing it made is
// left: no image, no bundle object, no volume or snapshot. chromogenic-ec2-import shares
// PublishEucalyptusImage.
func PublishEucalyptus(ctx context.Context, ui packersdk.Ui, cl *cloud.Clients, path string, o EucaPublishOptions) (*EucaPublished, error) {
	// The builder's raw working copy: raw by declaration (its first sector is the guest's).
	img, err := diskimage.OpenFormat(path, "raw")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer img.Close()
	return PublishEucalyptusImage(ctx, ui, cl, img, path, o)
}

// PublishEucalyptusImage is PublishEucalyptus of an opened image; path names it in
// messages. It does not close img.
func PublishEucalyptusImage(ctx context.Context, ui packersdk.Ui, cl *cloud.Clients, img diskimage.Image, path string, o EucaPublishOptions) (*EucaPublished, error) {
	if o.Architecture == "" {
		o.Architecture = "x86_64"
	}
	if o.RootDeviceName == "" {
		o.RootDeviceName = "/dev/sda"
	}
	e := o.Euca
	res := &EucaPublished{}
	undo := func(cause error) error {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		defer cancel()
		ui.Say("Removing what the failed registration made...")
		var errs []error
		if res.ImageID != "" {
			errs = append(errs, cloud.DeleteImage(dctx, cl.EC2, res.ImageID, res.SnapshotID))
		} else if res.SnapshotID != "" {
			errs = append(errs, cloud.DeleteSnapshot(dctx, cl.EC2, res.SnapshotID))
		}
		if len(res.Keys) > 0 {
			errs = append(errs, cloud.DeleteObjects(dctx, cl.S3, res.Bucket, res.Keys))
		}
		for _, err := range errs {
			if err != nil {
				ui.Error(fmt.Sprintf("cleaning up after the failure: %v", err))
			}
		}
		return cause
	}
	start := time.Now()
	logf := func(f string, a ...any) { ui.Message(fmt.Sprintf(f, a...)) }
	switch e.Register {
	case "import-volume":
		ui.Say(fmt.Sprintf("Importing %s (%s, %d MiB) with ImportVolume through s3://%s...", path, img.Format(), img.Size()>>20, e.Bucket))
		vol, err := cloud.ImportVolume(ctx, cl, img, img.Size(), cloud.ImportVolumeOptions{
			Bucket: e.Bucket, Prefix: fmt.Sprintf("chromogenic-import-%s-%d", unsafeName.ReplaceAllString(o.Name, "_"), time.Now().Unix()),
			AvailabilityZone: e.AvailabilityZone, Description: "chromogenic: " + o.Name, Timeout: o.StateTimeout, Logf: logf,
		})
		if err != nil {
			return nil, undo(err)
		}
		ui.Message(fmt.Sprintf("Volume %s imported (%s); snapshotting it...", vol, time.Since(start).Round(time.Second)))
		snap, err := cloud.SnapshotVolume(ctx, cl.EC2, vol, "chromogenic: "+o.Name, o.StateTimeout)
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		if derr := cloud.DeleteVolume(dctx, cl.EC2, vol); derr != nil {
			ui.Error(derr.Error())
		}
		cancel()
		if err != nil {
			return nil, undo(err)
		}
		res.SnapshotID = snap
		if err := cloud.CreateTags(ctx, cl.EC2, o.SnapshotTags, snap); err != nil {
			return nil, undo(err)
		}
		ui.Say(fmt.Sprintf("Registering EMI %q (%s, hvm, root %s on %s)...", o.Name, o.Architecture, o.RootDeviceName, snap))
		res.ImageID, err = cloud.RegisterImage(ctx, cl.EC2, cloud.NewImage{Name: o.Name, Description: o.Description, Architecture: o.Architecture,
			RootDeviceName: o.RootDeviceName, SnapshotID: snap, VolumeType: o.VolumeType, Minimal: true})
		if err != nil {
			return nil, undo(err)
		}
	default:
		prefix := fmt.Sprintf("%s-%d", unsafeName.ReplaceAllString(o.Name, "_"), time.Now().Unix())
		ui.Say(fmt.Sprintf("Bundling %s (%s, %d MiB) into s3://%s/%s...", path, img.Format(), img.Size()>>20, e.Bucket, prefix))
		k := e.Keys()
		var bar *progress.Bar
		ub, err := cloud.UploadBundle(ctx, cl, io.NewSectionReader(img, 0, img.Size()), img.Size(), e.Bucket, bundle.WriteOptions{
			Name: prefix + ".img", Prefix: prefix, User: e.AccountID, Architecture: o.Architecture,
			BlockDevices: map[string]string{"ami": strings.TrimPrefix(o.RootDeviceName, "/dev/"), "root": o.RootDeviceName},
			SignKey:      k.UserKey, UserCert: k.UserCert, CloudCert: k.CloudCert,
			Progress: func(done int64) {
				if bar == nil {
					bar = progress.New(ui, "bundle", img.Size())
				}
				bar.Update(done, img.Size())
			},
		})
		if bar != nil {
			bar.Close()
		}
		if err != nil {
			return nil, err // UploadBundle removed its objects
		}
		res.Bucket, res.Keys = ub.Bucket, ub.Keys
		ui.Message(fmt.Sprintf("Bundle %s: %d parts, %d MiB, in %s", ub.Location, len(ub.Manifest.Parts), ub.Manifest.BundledSize>>20, time.Since(start).Round(time.Second)))
		ui.Say(fmt.Sprintf("Registering EMI %q from %s...", o.Name, ub.Location))
		res.ImageID, err = cloud.RegisterBundle(ctx, cl.EC2, o.Name, o.Description, ub.Location, o.Architecture, o.RootDeviceName)
		if err != nil {
			return nil, undo(err)
		}
	}
	if _, err := cloud.WaitImage(ctx, cl.EC2, res.ImageID, o.StateTimeout); err != nil {
		return nil, undo(err)
	}
	if err := cloud.CreateTags(ctx, cl.EC2, o.Tags, res.ImageID); err != nil {
		return nil, undo(err)
	}
	ui.Say(fmt.Sprintf("EMI %s (%s) is available (%s)", res.ImageID, o.Name, time.Since(start).Round(time.Second)))
	return res, nil
}
