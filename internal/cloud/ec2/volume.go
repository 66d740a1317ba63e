package ec2

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// CreateVolume creates a volume from a snapshot in a zone (of the snapshot's size, of the
// cloud's default type) tagged at creation (TagSpecifications). With separateTags (Eucalyptus:
// EC2 API 2016-09-15 has no TagSpecifications) the tags are set with a separate CreateTags call
// instead, and a volume whose tagging fails is deleted.
func CreateVolume(ctx context.Context, c *sdkec2.Client, snapshot, zone string, tags map[string]string, separateTags bool) (string, error) {
	in := &sdkec2.CreateVolumeInput{SnapshotId: aws.String(snapshot), AvailabilityZone: aws.String(zone)}
	if !separateTags {
		in.TagSpecifications = tagSpec(types.ResourceTypeVolume, tags)
	}
	out, err := c.CreateVolume(ctx, in)
	if err != nil {
		return "", fmt.Errorf("CreateVolume from %s in %s: %w", snapshot, zone, err)
	}
	id := aws.ToString(out.VolumeId)
	if !separateTags {
		return id, nil
	}
	if err := CreateTags(ctx, c, tags, id); err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		return "", errors.Join(err, DeleteVolume(dctx, c, id))
	}
	return id, nil
}

// GetVolume describes one volume.
func GetVolume(ctx context.Context, c *sdkec2.Client, id string) (*types.Volume, error) {
	out, err := c.DescribeVolumes(ctx, &sdkec2.DescribeVolumesInput{VolumeIds: []string{id}})
	if err != nil {
		return nil, fmt.Errorf("DescribeVolumes %s: %w", id, err)
	}
	if len(out.Volumes) != 1 {
		return nil, fmt.Errorf("volume %s not found", id)
	}
	return &out.Volumes[0], nil
}

// WaitVolume polls a volume until done says it is ready (true) or failed (an error), with
// the WaitPoll delays. A volume not found yet (eventual consistency) is polled again.
func WaitVolume(ctx context.Context, c *sdkec2.Client, id, what string, timeout time.Duration, done func(*types.Volume) (bool, error)) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	delay := WaitPoll.Min
	last := "unknown"
	for {
		v, err := GetVolume(wctx, c, id)
		switch {
		case err == nil:
			last = describeVolumeState(v)
			ok, derr := done(v)
			if derr != nil {
				return fmt.Errorf("volume %s: %w", id, derr)
			}
			if ok {
				return nil
			}
		case APICode(err) == "InvalidVolume.NotFound":
			last = "not found"
		case !retryable(wctx, err):
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-wctx.Done():
			t.Stop()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("volume %s is still %s after %s: gave up waiting for it to be %s", id, last, timeout, what)
		}
		delay = min(delay*2, WaitPoll.Max)
	}
}

func describeVolumeState(v *types.Volume) string {
	s := string(v.State)
	for _, a := range v.Attachments {
		s += fmt.Sprintf(", attachment to %s as %s %s", aws.ToString(a.InstanceId), aws.ToString(a.Device), a.State)
	}
	return s
}

// VolumeAvailable is a WaitVolume condition: the volume is available (created, or detached
// from everything); an error state fails.
func VolumeAvailable(v *types.Volume) (bool, error) {
	switch v.State {
	case types.VolumeStateAvailable:
		return len(v.Attachments) == 0, nil
	case types.VolumeStateError, types.VolumeStateDeleting, types.VolumeStateDeleted:
		return false, fmt.Errorf("is %s", v.State)
	}
	return false, nil
}

// VolumeAttached returns a WaitVolume condition: the volume is attached to the instance.
func VolumeAttached(instance string) func(*types.Volume) (bool, error) {
	return func(v *types.Volume) (bool, error) {
		switch v.State {
		case types.VolumeStateError, types.VolumeStateDeleting, types.VolumeStateDeleted:
			return false, fmt.Errorf("is %s", v.State)
		}
		for _, a := range v.Attachments {
			if aws.ToString(a.InstanceId) != instance {
				continue
			}
			return a.State == types.VolumeAttachmentStateAttached, nil
		}
		if v.State == types.VolumeStateAvailable {
			return false, fmt.Errorf("is available: the attachment to %s went away", instance)
		}
		return false, nil
	}
}

// AttachVolume attaches a volume to an instance under a device name (/dev/sdf).
func AttachVolume(ctx context.Context, c *sdkec2.Client, volume, instance, device string) error {
	_, err := c.AttachVolume(ctx, &sdkec2.AttachVolumeInput{VolumeId: aws.String(volume), InstanceId: aws.String(instance), Device: aws.String(device)})
	if err != nil {
		return fmt.Errorf("AttachVolume %s to %s as %s: %w", volume, instance, device, err)
	}
	return nil
}

// DeviceNameInUse tells whether an AttachVolume error says that the device name is taken
// on the instance (another name may work).
func DeviceNameInUse(err error) bool {
	var ae interface{ ErrorMessage() string }
	if APICode(err) != "InvalidParameterValue" || !errors.As(err, &ae) {
		return false
	}
	m := ae.ErrorMessage()
	return containsFold(m, "already in use") || containsFold(m, "is in use")
}

// DetachVolume detaches a volume from an instance. Detaching a volume that is not attached
// any more is not an error.
func DetachVolume(ctx context.Context, c *sdkec2.Client, volume, instance string, force bool) error {
	in := &sdkec2.DetachVolumeInput{VolumeId: aws.String(volume), InstanceId: aws.String(instance)}
	if force {
		in.Force = aws.Bool(true)
	}
	_, err := c.DetachVolume(ctx, in)
	switch code := APICode(err); {
	case err == nil, code == "IncorrectState", code == "InvalidAttachment.NotFound", code == "InvalidVolume.NotFound":
		return nil
	default:
		return fmt.Errorf("DetachVolume %s from %s: %w", volume, instance, err)
	}
}

// InstanceDeviceNames lists the device names of an instance's block device mappings (what
// the cloud already has attached).
func InstanceDeviceNames(ctx context.Context, c *sdkec2.Client, instance string) ([]string, error) {
	in, err := FindInstance(ctx, c, instance, Filter{})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, b := range in.BlockDeviceMappings {
		names = append(names, aws.ToString(b.DeviceName))
	}
	return names, nil
}
