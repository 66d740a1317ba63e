//go:generate packer-sdc struct-markdown
//go:generate packer-sdc mapstructure-to-hcl2 -type Config,AMIFilter

package ec2

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/hashicorp/packer-plugin-sdk/common"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	ec2common "github.com/chromogenic/packer-plugin-chromogenic/common/ec2"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
)

// Config is the chromogenic-ec2 builder's configuration.
type Config struct {
	common.PackerConfig    `mapstructure:",squash"`
	ec2common.AccessConfig `mapstructure:",squash"`

	// The running (or stopped) instance to capture, by ID. On Eucalyptus, a running
	// instance-store instance, bundled with BundleInstance. Exactly one of `instance_id`,
	// `instance_filter`, `source_ami` and `source_ami_filter` is required.
	InstanceID string `mapstructure:"instance_id" required:"false"`
	// The instance to capture, found by EC2 filters (`tag:Name = "web"`); exactly one
	// instance that is not terminated must match.
	InstanceFilter map[string]string `mapstructure:"instance_filter" required:"false"`
	// Capture the instance without rebooting it first. Defaults to false: EC2 reboots the
	// instance so that its file systems are consistent. (Eucalyptus' BundleInstance never
	// reboots.)
	NoReboot bool `mapstructure:"no_reboot" required:"false"`
	// Keep the intermediate AMI and snapshots CreateImage made of the instance (on
	// Eucalyptus, the BundleInstance bundle). Defaults to false: they are deleted once the
	// data is home. A kept AMI maps every volume of the instance; one that is not kept maps
	// only the disks the build reads (with `disks = "root"` on AWS, the instance's other
	// volumes are left out of CreateImage and never snapshotted).
	KeepIntermediateImage bool `mapstructure:"keep_intermediate_image" required:"false"`
	// An existing AMI to start from, by ID: EBS-backed on AWS, an instance-store EMI (its
	// bundle is downloaded) on Eucalyptus.
	SourceAMI string `mapstructure:"source_ami" required:"false"`
	// An existing AMI to start from, found by filters and owners.
	SourceAMIFilter AMIFilter `mapstructure:"source_ami_filter" required:"false"`

	ec2common.RegisterConfig   `mapstructure:",squash"`
	ec2common.EncryptionConfig `mapstructure:",squash"`
	ec2common.EucaImageConfig  `mapstructure:",squash"`
	ec2common.ShareConfig      `mapstructure:",squash"`
	// The cloud is Eucalyptus: this block (even empty) makes the build go the Eucalyptus
	// way, whatever the shape of `custom_endpoint_ec2` (which it requires); without it the
	// cloud is AWS or AWS-compatible. It holds the keys, the bucket and how to register.
	Eucalyptus *ec2common.EucalyptusConfig `mapstructure:"eucalyptus" required:"false"`

	// How the source's root disk is brought home:
	//
	// - `ebs-direct`: the root snapshot is read through the EBS direct API (AWS).
	// - `bundle`: Eucalyptus instance-store sources: BundleInstance of the instance, or the
	//   EMI's bundle, downloaded and unbundled with `eucalyptus` keys.
	// - `attach`: a volume is made from the root snapshot (of a CreateImage of the instance
	//   first when capturing an instance), attached to the instance Packer itself runs on
	//   (found with the instance metadata service), read as a block device, then detached and
	//   deleted. Packer must run as root on an instance of the same cloud, in a zone where the
	//   volume can be attached. This is how EBS-backed Eucalyptus images and instances are
	//   captured, and it works on AWS without the EBS direct API.
	//
	// Defaults to `ebs-direct` on AWS; on Eucalyptus to `bundle` for instance-store sources
	// and `attach` for EBS-backed ones.
	CaptureMethod string `mapstructure:"capture_method" required:"false"`
	// With `capture_method = "attach"`: the device path where the volume shows up on this
	// host, such as `/dev/xvdf` (it is attached as `/dev/sdf`). Defaults to the first free
	// name of `/dev/sd[f-p]`, found as `/dev/sdX`, `/dev/xvdX`, `/dev/vdX`, or the NVMe
	// namespace (or virtio disk) whose serial number is the volume id.
	DevicePath string `mapstructure:"device_path" required:"false"`

	// Which disks of the source are captured: `root` (the default) brings home the root
	// device only; `all` brings home every EBS block-device mapping of the source (of the
	// intermediate AMI of an instance: every EBS volume attached to it), the root first, then
	// the others in the kernel's order of their device names. Each gets a working copy of its
	// own (the root's is `<build name>.raw`, disk N is `<build name>-disk<N>.raw`), all are
	// attached together (the guest's `/etc/fstab` entries on the other disks are mounted where
	// it says), and the new AMI maps a new snapshot of each at the source's device name, with
	// its volume type, size and delete-on-termination. Instance-store (ephemeral) mappings and
	// NoDevice entries are skipped. `all` needs `capture_method = "ebs-direct"` (AWS).
	Disks string `mapstructure:"disks" required:"false"`

	// The provenance record (`<working copy>.provenance.json`) of an earlier capture of the
	// same instance, volume or image, to bring this capture home over its working copy. Its
	// working copy is copied into this build's (a reflink where the filesystem can, else a
	// sparse copy) and trusted if its stamp (inode, size, mtime, ctime) says it was not
	// written since the record was made, else checked block by block against the record.
	// With `capture_method = "ebs-direct"` (AWS) it is a changed-block recapture: only the
	// blocks EBS ListChangedBlocks reports between the record's snapshot and the new one are
	// read (each checked against its SHA-256); with `disks = "all"` each disk is recaptured
	// this way from the base's disk at the same device name (one the base did not capture
	// is read in full). With `attach` and `bundle` (Eucalyptus, and
	// AWS attach), which have no changed-block API, the source is still read whole, but each
	// 512 KiB block is hashed as it arrives and written only where it differs from the base
	// (a block that became zeros is made a hole): the same bytes as a plain capture, with
	// fewer writes. A base whose working copy no longer matches its record (it was changed
	// since, or damaged), or whose snapshot is gone, gives a full download instead, and the
	// build says why; a record of another cloud, instance, volume or image, without a block
	// map, or whose working copy lies in this build's `output_directory` is refused.
	BaseProvenance string `mapstructure:"base_provenance" required:"false"`
	// Keep the snapshots of the intermediate AMI (instance captures) when the AMI is
	// deregistered, so that a later build can name this one's record as its
	// `base_provenance`: ListChangedBlocks needs the earlier snapshot. Defaults to false.
	KeepCaptureSnapshot bool `mapstructure:"keep_capture_snapshot" required:"false"`

	// Only bring the image home and provision it: nothing is registered; the artifact is the
	// local working copy, for post-processors.
	SkipRegister bool `mapstructure:"skip_register" required:"false"`

	// Where the working copy is kept. Defaults to `output-<build name>`.
	OutputDir string `mapstructure:"output_directory" required:"false"`

	bcommon.ChrootConfig `mapstructure:",squash"`

	ctx        interpolate.Context
	baseRecord *provenance.Record // base_provenance, read in Prepare
}

// Capture methods (capture_method).
const (
	CaptureEBSDirect = "ebs-direct"
	CaptureAttach    = "attach"
	CaptureBundle    = "bundle"
)

// Disks (disks).
const (
	DisksRoot = "root"
	DisksAll  = "all"
)

// AMIFilter finds an AMI, as the amazon plugins' `source_ami_filter` does.
type AMIFilter struct {
	// EC2 DescribeImages filters, such as `name = "debian-12-*"` and
	// `virtualization-type = "hvm"`.
	Filters map[string]string `mapstructure:"filters"`
	// Owners: account IDs, `self`, or aliases such as `amazon`. Required, so that an image
	// from an unexpected account is never picked.
	Owners []string `mapstructure:"owners"`
	// Take the newest image when several match. Without it, several matches are an error.
	MostRecent bool `mapstructure:"most_recent"`
}

func (f AMIFilter) empty() bool { return len(f.Filters) == 0 && len(f.Owners) == 0 }

// Cloud is the adapter's form of the filter.
func (f AMIFilter) Cloud() cloud.Filter {
	return cloud.Filter{Filters: single(f.Filters), Owners: f.Owners, MostRecent: f.MostRecent}
}

func single(m map[string]string) map[string][]string {
	out := map[string][]string{}
	for k, v := range m {
		out[k] = []string{v}
	}
	return out
}

// Prepare decodes and validates; every error names its field.
func (c *Config) Prepare(raws ...interface{}) error {
	err := config.Decode(c, &config.DecodeOpts{
		PluginType:         BuilderID,
		Interpolate:        true,
		InterpolateContext: &c.ctx,
		InterpolateFilter:  &interpolate.RenderFilter{Exclude: []string{"mount_path"}},
	}, raws...)
	if err != nil {
		return err
	}
	var errs *packersdk.MultiError
	ec2common.ApplyEucarc(&c.AccessConfig, c.Eucalyptus, cloud.ReadEucarc(nil)) // a eucalyptus block only
	errs = packersdk.MultiErrorAppend(errs, c.AccessConfig.Prepare()...)
	euca := c.IsEucalyptus()
	errs = packersdk.MultiErrorAppend(errs, c.AccessConfig.PrepareCloud(euca)...)
	instance := c.InstanceID != "" || len(c.InstanceFilter) > 0
	sources := 0
	for _, set := range []bool{c.InstanceID != "", len(c.InstanceFilter) > 0, c.SourceAMI != "", !c.SourceAMIFilter.empty()} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("exactly one of instance_id, instance_filter, source_ami and source_ami_filter is required (%d given)", sources))
	}
	if !c.SourceAMIFilter.empty() && len(c.SourceAMIFilter.Owners) == 0 {
		errs = packersdk.MultiErrorAppend(errs, errors.New("source_ami_filter.owners is required: name the accounts (or self, amazon...) the image may come from"))
	}
	if !instance && c.NoReboot {
		errs = packersdk.MultiErrorAppend(errs, errors.New("no_reboot applies to instance captures (instance_id or instance_filter) only"))
	}
	if !instance && c.KeepIntermediateImage {
		errs = packersdk.MultiErrorAppend(errs, errors.New("keep_intermediate_image applies to instance captures (instance_id or instance_filter) only"))
	}
	switch c.CaptureMethod {
	case "", CaptureAttach:
	case CaptureEBSDirect:
		if euca {
			errs = packersdk.MultiErrorAppend(errs, errors.New(`capture_method "ebs-direct": Eucalyptus has no EBS direct API; use "attach" (EBS-backed sources) or "bundle" (instance-store)`))
		}
	case CaptureBundle:
		if !euca {
			errs = packersdk.MultiErrorAppend(errs, errors.New(`capture_method "bundle" is for Eucalyptus instance-store sources; on AWS use "ebs-direct" or "attach"`))
		}
	default:
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("capture_method %q: want ebs-direct, attach or bundle (or leave it empty)", c.CaptureMethod))
	}
	if c.DevicePath != "" {
		if cloud.AttachName(c.DevicePath) == "" {
			errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("device_path %q: want a disk name such as /dev/sdf or /dev/xvdf", c.DevicePath))
		}
		if c.CaptureMethod != CaptureAttach && !(euca && c.CaptureMethod == "") {
			errs = packersdk.MultiErrorAppend(errs, errors.New(`device_path applies to capture_method = "attach" only`))
		}
	}
	switch c.Disks {
	case "":
		c.Disks = DisksRoot
	case DisksRoot:
	case DisksAll:
		switch {
		case euca:
			errs = packersdk.MultiErrorAppend(errs, errors.New(`disks = "all" is not supported on Eucalyptus (no EBS direct API; its capture methods bring the root disk home only): use disks = "root"`))
		case c.CaptureMethod != "" && c.CaptureMethod != CaptureEBSDirect:
			errs = packersdk.MultiErrorAppend(errs, fmt.Errorf(`disks = "all" needs capture_method "ebs-direct"; capture_method %q brings the root disk home only`, c.CaptureMethod))
		}
	default:
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("disks %q: want root or all", c.Disks))
	}
	if !instance && c.KeepCaptureSnapshot {
		errs = packersdk.MultiErrorAppend(errs, errors.New("keep_capture_snapshot applies to instance captures (instance_id or instance_filter) only"))
	}
	errs = packersdk.MultiErrorAppend(errs, c.RegisterConfig.Prepare(!c.SkipRegister, euca)...)
	errs = packersdk.MultiErrorAppend(errs, c.EncryptionConfig.Prepare(euca)...)
	errs = packersdk.MultiErrorAppend(errs, c.EucaImageConfig.Prepare(euca, true)...)
	if euca {
		// The bundle keys are checked here when the bundle path is asked for, else when the
		// source turns out to be instance-store (StepSource).
		errs = packersdk.MultiErrorAppend(errs, c.Eucalyptus.Prepare(c.CaptureMethod == CaptureBundle, !c.SkipRegister)...)
	}
	errs = packersdk.MultiErrorAppend(errs, c.ShareConfig.Prepare(c.Region, euca, !euca || c.Eucalyptus.Register == "import-volume", c.SkipRegionValidation)...)
	if c.SkipRegister && c.ShareConfig.Set() {
		errs = packersdk.MultiErrorAppend(errs, errors.New("ami_users, ami_groups, ami_org_arns, ami_ou_arns, snapshot_users, snapshot_groups and ami_regions need a registered image: remove them or skip_register"))
	}
	if c.OutputDir == "" {
		c.OutputDir = "output-" + buildName(c)
	}
	c.OutputDir = filepath.Clean(c.OutputDir)
	if c.BaseProvenance != "" {
		errs = packersdk.MultiErrorAppend(errs, c.prepareBase(euca)...)
	}
	errs = packersdk.MultiErrorAppend(errs, c.ChrootConfig.Prepare(&c.ctx)...)
	if errs != nil && len(errs.Errors) > 0 {
		return errs
	}
	return nil
}

// prepareBase reads base_provenance: a record of a capture from this cloud (aws or
// eucalyptus) with a working copy block map kept outside output_directory, and for a
// changed-block recapture (ebs-direct) its snapshot.
func (c *Config) prepareBase(euca bool) []error {
	want := "aws"
	if euca {
		want = "eucalyptus"
	}
	r, errs := bcommon.ReadBaseProvenance(c.BaseProvenance, []string{want}, c.OutputDir)
	if r == nil {
		return errs
	}
	ebsDirect := !euca && (c.CaptureMethod == "" || c.CaptureMethod == CaptureEBSDirect)
	if len(errs) == 0 && ebsDirect && len(r.Source.Snapshots) == 0 {
		errs = append(errs, fmt.Errorf("base_provenance %s: it names no snapshot to compare with (a changed-block recapture through the EBS direct API lists the blocks changed since it)", c.BaseProvenance))
	}
	c.baseRecord = r
	return errs
}

// IsEucalyptus tells whether the template chose Eucalyptus (a `eucalyptus` block): images
// then move as instance-store bundles, through attached volumes or ImportVolume, never
// through the EBS direct API.
func (c *Config) IsEucalyptus() bool { return c.Eucalyptus != nil }

func buildName(c *Config) string {
	if c.PackerBuildName != "" {
		return c.PackerBuildName
	}
	return "chromogenic-ec2"
}
