package ec2

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Replace says what to do with an AMI of the account that already has the new AMI's name
// (force_deregister, force_delete_snapshot of the faces).
type Replace struct {
	// Force deregisters it before registering; without it a clash is an error.
	Force bool
	// DeleteSnapshots deletes its snapshots too (with Force).
	DeleteSnapshots bool
	// Protect lists images never to deregister (the build's source): a clash with one of
	// them is an error even with Force.
	Protect []string
}

// OwnedByName lists the images this account owns (owner self) named exactly name.
func OwnedByName(ctx context.Context, c *sdkec2.Client, name string) ([]types.Image, error) {
	out, err := c.DescribeImages(ctx, &sdkec2.DescribeImagesInput{Owners: []string{"self"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{name}}}})
	if err != nil {
		return nil, fmt.Errorf("DescribeImages named %q: %w", name, err)
	}
	var imgs []types.Image
	for _, im := range out.Images {
		// The name filter takes wildcards; only the exact name clashes.
		if aws.ToString(im.Name) == name {
			imgs = append(imgs, im)
		}
	}
	return imgs, nil
}

// CheckName is the pre-validation of a registration, before any data moves: an AMI of the
// account named name is an error without r.Force (naming ami_name and the AMI), and always
// when it is protected (the build's source must never be modified). It returns the AMIs
// Deregister will replace.
func CheckName(ctx context.Context, c *sdkec2.Client, name string, r Replace) ([]string, error) {
	imgs, err := OwnedByName(ctx, c, name)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, im := range imgs {
		id := aws.ToString(im.ImageId)
		for _, p := range r.Protect {
			if p == id {
				return nil, fmt.Errorf("ami_name %q is the name of %s, the build's source AMI: it is never deregistered; choose another ami_name", name, id)
			}
		}
		if !r.Force {
			return nil, fmt.Errorf("ami_name %q is already used by %s of this account: set force_deregister = true to replace it, or choose another ami_name", name, id)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// Deregister deregisters the AMIs of the account named name (with r.DeleteSnapshots their
// snapshots too), after checking them again as CheckName does: nothing another account owns
// and nothing protected is touched. A failed deregistration is an error (the new AMI could
// not take the name); a snapshot that cannot be deleted once its AMI is gone (in use by
// another AMI, say) is reported and kept, and does not fail the registration.
func Deregister(ctx context.Context, c *sdkec2.Client, name string, r Replace, rep Report) error {
	ids, err := CheckName(ctx, c, name, r)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		im, err := GetImage(ctx, c, id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := c.DeregisterImage(ctx, &sdkec2.DeregisterImageInput{ImageId: aws.String(id)}); err != nil && APICode(err) != "InvalidAMIID.NotFound" {
			errs = append(errs, fmt.Errorf("force_deregister: DeregisterImage %s: %w", id, err))
			continue
		}
		rep.say("Deregistered %s, the previous AMI named %q (force_deregister)", id, name)
		if !r.DeleteSnapshots {
			continue
		}
		for _, sn := range Snapshots(im) {
			if err := DeleteSnapshot(ctx, c, sn); err != nil {
				rep.error(fmt.Errorf("force_delete_snapshot: %w (kept)", err))
				continue
			}
			rep.message("Deleted snapshot %s of %s (force_delete_snapshot)", sn, id)
		}
	}
	return errors.Join(errs...)
}

// VolumeEncryption tells whether a volume is encrypted, and with which KMS key.
func VolumeEncryption(ctx context.Context, c *sdkec2.Client, id string) (bool, string, error) {
	v, err := GetVolume(ctx, c, id)
	if err != nil {
		return false, "", err
	}
	return aws.ToBool(v.Encrypted), aws.ToString(v.KmsKeyId), nil
}

// SnapshotEncryption tells whether a snapshot is encrypted, and with which KMS key.
func SnapshotEncryption(ctx context.Context, c *sdkec2.Client, id string) (bool, string, error) {
	out, err := c.DescribeSnapshots(ctx, &sdkec2.DescribeSnapshotsInput{SnapshotIds: []string{id}})
	if err != nil {
		return false, "", fmt.Errorf("DescribeSnapshots %s: %w", id, err)
	}
	if len(out.Snapshots) != 1 {
		return false, "", fmt.Errorf("snapshot %s not found", id)
	}
	s := out.Snapshots[0]
	return aws.ToBool(s.Encrypted), aws.ToString(s.KmsKeyId), nil
}

// SourceEncryption tells how the root disk of an instance (its root volume) or of an image
// (its root snapshot) is encrypted; give one of them.
func SourceEncryption(ctx context.Context, c *sdkec2.Client, inst *types.Instance, img *types.Image) (bool, string, error) {
	if inst != nil {
		root := aws.ToString(inst.RootDeviceName)
		for _, b := range inst.BlockDeviceMappings {
			if aws.ToString(b.DeviceName) == root && b.Ebs != nil && aws.ToString(b.Ebs.VolumeId) != "" {
				return VolumeEncryption(ctx, c, aws.ToString(b.Ebs.VolumeId))
			}
		}
		return false, "", fmt.Errorf("instance %s: no EBS volume at its root device %s", aws.ToString(inst.InstanceId), root)
	}
	snap, _, err := RootSnapshot(img)
	if err != nil {
		return false, "", err
	}
	return SnapshotEncryption(ctx, c, snap)
}

// DisksEncryption is SourceEncryption for a capture of every disk (disks = "all"): the
// source is encrypted when any of its EBS disks is (every EBS volume of an instance, every
// EBS snapshot of an image), with the root's key when the root is encrypted, else the key of
// the first encrypted disk in the kernel's order: the new snapshots, all encrypted alike,
// never drop the encryption of one of the disks.
func DisksEncryption(ctx context.Context, c *sdkec2.Client, inst *types.Instance, img *types.Image) (bool, string, error) {
	enc, key, err := SourceEncryption(ctx, c, inst, img)
	if err != nil || enc {
		return enc, key, err
	}
	var check []func() (bool, string, error)
	if inst != nil {
		var vols []types.InstanceBlockDeviceMapping
		root := aws.ToString(inst.RootDeviceName)
		for _, b := range inst.BlockDeviceMappings {
			if b.Ebs != nil && aws.ToString(b.Ebs.VolumeId) != "" && aws.ToString(b.DeviceName) != root {
				vols = append(vols, b)
			}
		}
		sort.SliceStable(vols, func(i, j int) bool {
			return DeviceLess(aws.ToString(vols[i].DeviceName), aws.ToString(vols[j].DeviceName))
		})
		for _, v := range vols {
			check = append(check, func() (bool, string, error) { return VolumeEncryption(ctx, c, aws.ToString(v.Ebs.VolumeId)) })
		}
	} else {
		disks, _, err := ImageDisks(img)
		if err != nil {
			return false, "", err
		}
		for _, d := range disks[1:] {
			check = append(check, func() (bool, string, error) { return SnapshotEncryption(ctx, c, d.SnapshotID) })
		}
	}
	for _, f := range check {
		if enc, key, err := f(); err != nil || enc {
			return enc, key, err
		}
	}
	return false, "", nil
}
