package ec2

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Filter finds images or instances: EC2 filters (name → values, wildcards allowed) and, for
// images, owners (account ids, aliases such as amazon, or self).
type Filter struct {
	Filters    map[string][]string
	Owners     []string
	MostRecent bool
}

func (f Filter) ec2Filters() []types.Filter {
	var out []types.Filter
	for _, k := range sortedKeys(f.Filters) {
		out = append(out, types.Filter{Name: aws.String(k), Values: f.Filters[k]})
	}
	return out
}

// FindInstance returns the instance with this id, or the one instance (not terminated) the
// filter matches.
func FindInstance(ctx context.Context, c *sdkec2.Client, id string, f Filter) (*types.Instance, error) {
	in := &sdkec2.DescribeInstancesInput{}
	if id != "" {
		in.InstanceIds = []string{id}
	} else {
		in.Filters = f.ec2Filters()
	}
	var found []types.Instance
	p := sdkec2.NewDescribeInstancesPaginator(c, in)
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("DescribeInstances: %w", err)
		}
		for _, r := range out.Reservations {
			for _, i := range r.Instances {
				if i.State != nil && (i.State.Name == types.InstanceStateNameTerminated || i.State.Name == types.InstanceStateNameShuttingDown) {
					continue
				}
				found = append(found, i)
			}
		}
	}
	switch {
	case len(found) == 0 && id != "":
		return nil, fmt.Errorf("instance %s not found (or terminated)", id)
	case len(found) == 0:
		return nil, errors.New("no instance matches the filter")
	case len(found) > 1:
		var ids []string
		for _, i := range found {
			ids = append(ids, aws.ToString(i.InstanceId))
		}
		return nil, fmt.Errorf("%d instances match the filter (%v): narrow it", len(found), ids)
	}
	return &found[0], nil
}

// FindImages returns the images matching, newest first.
func FindImages(ctx context.Context, c *sdkec2.Client, ids []string, f Filter) ([]types.Image, error) {
	out, err := c.DescribeImages(ctx, &sdkec2.DescribeImagesInput{ImageIds: ids, Owners: f.Owners, Filters: f.ec2Filters()})
	if err != nil {
		return nil, fmt.Errorf("DescribeImages: %w", err)
	}
	imgs := out.Images
	sort.SliceStable(imgs, func(i, j int) bool {
		return creation(imgs[i]).After(creation(imgs[j]))
	})
	return imgs, nil
}

func creation(im types.Image) time.Time {
	t, _ := time.Parse(time.RFC3339, aws.ToString(im.CreationDate))
	return t
}

// FindImage returns the one image the filter matches (the newest with MostRecent).
func FindImage(ctx context.Context, c *sdkec2.Client, f Filter) (*types.Image, error) {
	imgs, err := FindImages(ctx, c, nil, f)
	if err != nil {
		return nil, err
	}
	switch {
	case len(imgs) == 0:
		return nil, errors.New("no image matches the filter")
	case len(imgs) > 1 && !f.MostRecent:
		return nil, fmt.Errorf("%d images match the filter: narrow it or set most_recent", len(imgs))
	}
	return &imgs[0], nil
}

// GetImage describes one image.
func GetImage(ctx context.Context, c *sdkec2.Client, id string) (*types.Image, error) {
	imgs, err := FindImages(ctx, c, []string{id}, Filter{})
	if err != nil {
		return nil, err
	}
	if len(imgs) != 1 {
		return nil, fmt.Errorf("image %s not found", id)
	}
	return &imgs[0], nil
}

// RootSnapshot returns the snapshot of an image's root device and its volume size (GiB).
func RootSnapshot(im *types.Image) (string, int64, error) {
	root := aws.ToString(im.RootDeviceName)
	for _, b := range im.BlockDeviceMappings {
		if aws.ToString(b.DeviceName) == root && b.Ebs != nil && aws.ToString(b.Ebs.SnapshotId) != "" {
			return aws.ToString(b.Ebs.SnapshotId), int64(aws.ToInt32(b.Ebs.VolumeSize)), nil
		}
	}
	if im.RootDeviceType == types.DeviceTypeInstanceStore {
		return "", 0, fmt.Errorf("image %s is instance-store backed: only EBS-backed images are supported", aws.ToString(im.ImageId))
	}
	return "", 0, fmt.Errorf("image %s has no EBS snapshot for its root device %s", aws.ToString(im.ImageId), root)
}

// Snapshots lists the EBS snapshots an image's block device mappings refer to.
func Snapshots(im *types.Image) []string {
	var ids []string
	for _, b := range im.BlockDeviceMappings {
		if b.Ebs != nil && aws.ToString(b.Ebs.SnapshotId) != "" {
			ids = append(ids, aws.ToString(b.Ebs.SnapshotId))
		}
	}
	return ids
}

// ImageCapture is what CreateImage captures: an instance, rebooted first unless NoReboot.
type ImageCapture struct {
	InstanceID, Name, Description string
	NoReboot                      bool
	// The new image gets ImageTags and the snapshots it makes get SnapshotTags at creation
	// (TagSpecifications): with a tag unique to the build, what an interrupted build or a
	// lost answer left behind can be found and deleted. Eucalyptus (EC2 API 2016-09-15) knows
	// no TagSpecifications: pass no tags there.
	ImageTags, SnapshotTags map[string]string
	// Exclude names device names of attached EBS volumes to leave out of the image (a
	// BlockDeviceMapping with NoDevice): CreateImage makes no snapshot of them. A capture of
	// the root disk only passes DataDevices of the instance.
	Exclude []string
}

// CreateImage captures an instance (CreateImage) and returns the new image's id.
func CreateImage(ctx context.Context, c *sdkec2.Client, o ImageCapture) (string, error) {
	in := &sdkec2.CreateImageInput{InstanceId: aws.String(o.InstanceID), Name: aws.String(o.Name), NoReboot: aws.Bool(o.NoReboot)}
	if o.Description != "" {
		in.Description = aws.String(o.Description)
	}
	for _, dev := range o.Exclude {
		in.BlockDeviceMappings = append(in.BlockDeviceMappings, types.BlockDeviceMapping{DeviceName: aws.String(dev), NoDevice: aws.String("")})
	}
	in.TagSpecifications = append(tagSpec(types.ResourceTypeImage, o.ImageTags), tagSpec(types.ResourceTypeSnapshot, o.SnapshotTags)...)
	out, err := c.CreateImage(ctx, in)
	if err != nil {
		return "", fmt.Errorf("CreateImage of %s: %w", o.InstanceID, err)
	}
	return aws.ToString(out.ImageId), nil
}

// DataDevices lists the device names of the instance's EBS volumes other than its root
// device: what a capture of the root disk only leaves out of CreateImage.
func DataDevices(inst *types.Instance) []string {
	var out []string
	root := aws.ToString(inst.RootDeviceName)
	for _, m := range inst.BlockDeviceMappings {
		if dev := aws.ToString(m.DeviceName); m.Ebs != nil && dev != "" && dev != root {
			out = append(out, dev)
		}
	}
	return out
}

// tagSpec is a TagSpecification of tags for one resource type, or none without tags.
func tagSpec(rt types.ResourceType, tags map[string]string) []types.TagSpecification {
	if len(tags) == 0 {
		return nil
	}
	ts := types.TagSpecification{ResourceType: rt}
	for _, k := range sortedKeys(tags) {
		ts.Tags = append(ts.Tags, types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	return []types.TagSpecification{ts}
}

// FindTagged lists this account's images and snapshots that carry the tag key=value.
func FindTagged(ctx context.Context, c *sdkec2.Client, key, value string) ([]types.Image, []string, error) {
	filter := []types.Filter{{Name: aws.String("tag:" + key), Values: []string{value}}}
	imgs, err := c.DescribeImages(ctx, &sdkec2.DescribeImagesInput{Owners: []string{"self"}, Filters: filter})
	if err != nil {
		return nil, nil, fmt.Errorf("DescribeImages tagged %s=%s: %w", key, value, err)
	}
	var snaps []string
	p := sdkec2.NewDescribeSnapshotsPaginator(c, &sdkec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}, Filters: filter})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("DescribeSnapshots tagged %s=%s: %w", key, value, err)
		}
		for _, sn := range out.Snapshots {
			snaps = append(snaps, aws.ToString(sn.SnapshotId))
		}
	}
	return imgs.Images, snaps, nil
}

// WaitPoll sets the waits' first and longest polling delays; tests lower them.
var WaitPoll = struct{ Min, Max time.Duration }{2 * time.Second, 15 * time.Second}

// WaitImage waits until the image exists (eventual consistency) and then until it is
// available; a failed image is an error.
func WaitImage(ctx context.Context, c *sdkec2.Client, id string, timeout time.Duration) (*types.Image, error) {
	in := &sdkec2.DescribeImagesInput{ImageIds: []string{id}}
	start := time.Now()
	if err := sdkec2.NewImageExistsWaiter(c, func(o *sdkec2.ImageExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = WaitPoll.Min, WaitPoll.Max
	}).Wait(ctx, in, timeout); err != nil {
		return nil, fmt.Errorf("wait for image %s to exist: %w", id, err)
	}
	out, err := sdkec2.NewImageAvailableWaiter(c, func(o *sdkec2.ImageAvailableWaiterOptions) {
		o.MinDelay, o.MaxDelay = WaitPoll.Min, WaitPoll.Max
	}).WaitForOutput(ctx, in, max(timeout-time.Since(start), time.Second))
	if err != nil {
		if im, gerr := GetImage(ctx, c, id); gerr == nil && im.StateReason != nil {
			return nil, fmt.Errorf("image %s is %s: %s", id, im.State, aws.ToString(im.StateReason.Message))
		}
		return nil, fmt.Errorf("wait for image %s to be available: %w", id, err)
	}
	if len(out.Images) != 1 {
		return nil, fmt.Errorf("image %s vanished", id)
	}
	return &out.Images[0], nil
}

// NewImage is an EBS-backed image to register from one root snapshot.
type NewImage struct {
	Name            string
	Description     string
	Architecture    string // x86_64 (default), arm64, i386...
	BootMode        string // legacy-bios, uefi, uefi-preferred or "" (the cloud's default)
	RootDeviceName  string // default /dev/xvda
	SnapshotID      string
	VolumeSizeGiB   int64  // 0: the snapshot's size
	VolumeType      string // default gp3
	ENA             bool
	SriovNetSupport string
	// Boot: hvm (the default), or paravirtual with a kernel and ramdisk (Eucalyptus EMIs).
	Boot        EucaBoot
	ImdsSupport string
	TpmSupport  string
	// Tags are set at registration (TagSpecifications), except with Minimal: then the
	// caller tags the image with CreateTags.
	Tags map[string]string
	// Minimal sends only what EC2 API 2016-09-15 knows (Eucalyptus): no boot mode, ENA, IMDS,
	// TPM settings or tags.
	Minimal bool
	// Others are the mappings of the other disks of a guest on several disks, after the
	// root's: each an EBS snapshot at its device name.
	Others []Disk
}

// RegisterImage registers an image whose root device is the snapshot (HVM unless n.Boot says).
func RegisterImage(ctx context.Context, c *sdkec2.Client, n NewImage) (string, error) {
	root := n.RootDeviceName
	if root == "" {
		root = "/dev/xvda"
	}
	arch := n.Architecture
	if arch == "" {
		arch = "x86_64"
	}
	vt := n.VolumeType
	if vt == "" {
		vt = "gp3"
	}
	ebsDev := &types.EbsBlockDevice{SnapshotId: aws.String(n.SnapshotID), DeleteOnTermination: aws.Bool(true), VolumeType: types.VolumeType(vt)}
	if n.VolumeSizeGiB > 0 {
		ebsDev.VolumeSize = aws.Int32(int32(n.VolumeSizeGiB))
	}
	in := &sdkec2.RegisterImageInput{
		Name: aws.String(n.Name), Architecture: types.ArchitectureValues(arch),
		RootDeviceName:      aws.String(root),
		BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String(root), Ebs: ebsDev}},
	}
	for _, d := range n.Others {
		vt := d.VolumeType
		if vt == "" {
			vt = string(ebsDev.VolumeType)
		}
		dot := d.DeleteOnTermination
		if dot == nil {
			dot = aws.Bool(true)
		}
		e := &types.EbsBlockDevice{SnapshotId: aws.String(d.SnapshotID), DeleteOnTermination: dot, VolumeType: types.VolumeType(vt)}
		if d.VolumeSizeGiB > 0 {
			e.VolumeSize = aws.Int32(int32(d.VolumeSizeGiB))
		}
		// IOPS are set for the types that take them (gp2, st1, sc1 and standard refuse
		// them), throughput for gp3 alone.
		switch d.VolumeType {
		case "io1", "io2", "gp3":
			if d.Iops > 0 {
				e.Iops = aws.Int32(d.Iops)
			}
		}
		if d.VolumeType == "gp3" && d.Throughput > 0 {
			e.Throughput = aws.Int32(d.Throughput)
		}
		in.BlockDeviceMappings = append(in.BlockDeviceMappings, types.BlockDeviceMapping{DeviceName: aws.String(d.Device), Ebs: e})
	}
	n.Boot.apply(in)
	if n.Description != "" {
		in.Description = aws.String(n.Description)
	}
	if n.SriovNetSupport != "" {
		in.SriovNetSupport = aws.String(n.SriovNetSupport)
	}
	if !n.Minimal {
		if n.BootMode != "" {
			in.BootMode = types.BootModeValues(n.BootMode)
		}
		if n.ENA {
			in.EnaSupport = aws.Bool(true)
		}
		if n.ImdsSupport != "" {
			in.ImdsSupport = types.ImdsSupportValues(n.ImdsSupport)
		}
		if n.TpmSupport != "" {
			in.TpmSupport = types.TpmSupportValues(n.TpmSupport)
		}
		in.TagSpecifications = tagSpec(types.ResourceTypeImage, n.Tags)
	}
	out, err := c.RegisterImage(ctx, in)
	if err != nil {
		return "", fmt.Errorf("RegisterImage %q: %w", n.Name, err)
	}
	return aws.ToString(out.ImageId), nil
}

// CreateTags tags resources (a separate call works on every EC2 API version).
func CreateTags(ctx context.Context, c *sdkec2.Client, tags map[string]string, ids ...string) error {
	if len(tags) == 0 || len(ids) == 0 {
		return nil
	}
	var t []types.Tag
	for _, k := range sortedKeys(tags) {
		t = append(t, types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	if _, err := c.CreateTags(ctx, &sdkec2.CreateTagsInput{Resources: ids, Tags: t}); err != nil {
		return fmt.Errorf("CreateTags on %v: %w", ids, err)
	}
	return nil
}

// DeleteSnapshot deletes a snapshot; one already gone is not an error.
func DeleteSnapshot(ctx context.Context, c *sdkec2.Client, id string) error {
	_, err := c.DeleteSnapshot(ctx, &sdkec2.DeleteSnapshotInput{SnapshotId: aws.String(id)})
	if err != nil && APICode(err) != "InvalidSnapshot.NotFound" {
		return fmt.Errorf("DeleteSnapshot %s: %w", id, err)
	}
	return nil
}

// DeleteImage deregisters an image and deletes the snapshots it referred to. An image already
// gone is not an error; snapshots are still deleted when given in extra.
func DeleteImage(ctx context.Context, c *sdkec2.Client, id string, extra ...string) error {
	snaps := append([]string(nil), extra...)
	if im, err := GetImage(ctx, c, id); err == nil {
		snaps = append(snaps, Snapshots(im)...)
	}
	var errs []error
	if _, err := c.DeregisterImage(ctx, &sdkec2.DeregisterImageInput{ImageId: aws.String(id)}); err != nil && APICode(err) != "InvalidAMIID.NotFound" {
		errs = append(errs, fmt.Errorf("DeregisterImage %s: %w", id, err))
	}
	seen := map[string]bool{}
	for _, s := range snaps {
		if seen[s] {
			continue
		}
		seen[s] = true
		errs = append(errs, DeleteSnapshot(ctx, c, s))
	}
	return errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
