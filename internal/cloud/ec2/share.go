package ec2

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Share says who may use a new image: launch permissions (accounts, the group "all",
// organizations and organizational units by ARN) on the image, and createVolumePermission
// (accounts, "all") on its snapshots. The caller validates the values.
type Share struct {
	Users, Groups, OrgARNs, OUARNs []string
	SnapshotUsers, SnapshotGroups  []string
}

// Empty tells whether nothing is shared.
func (s Share) Empty() bool {
	return len(s.Users)+len(s.Groups)+len(s.OrgARNs)+len(s.OUARNs)+len(s.SnapshotUsers)+len(s.SnapshotGroups) == 0
}

// ShareImage adds s's launch permissions to image (ModifyImageAttribute, LaunchPermission.Add:
// accounts and groups are in EC2 API 2016-09-15, which Eucalyptus speaks; organization ARNs
// are newer and only sent when asked for) and s's createVolumePermission to each snapshot
// (ModifySnapshotAttribute).
func ShareImage(ctx context.Context, c *sdkec2.Client, image string, snapshots []string, s Share) error {
	var add []types.LaunchPermission
	for _, u := range s.Users {
		add = append(add, types.LaunchPermission{UserId: aws.String(u)})
	}
	for _, g := range s.Groups {
		add = append(add, types.LaunchPermission{Group: types.PermissionGroup(g)})
	}
	for _, a := range s.OrgARNs {
		add = append(add, types.LaunchPermission{OrganizationArn: aws.String(a)})
	}
	for _, a := range s.OUARNs {
		add = append(add, types.LaunchPermission{OrganizationalUnitArn: aws.String(a)})
	}
	if len(add) > 0 {
		if _, err := c.ModifyImageAttribute(ctx, &sdkec2.ModifyImageAttributeInput{ImageId: aws.String(image),
			LaunchPermission: &types.LaunchPermissionModifications{Add: add}}); err != nil {
			return fmt.Errorf("sharing %s (ModifyImageAttribute launchPermission): %w", image, err)
		}
	}
	var vol []types.CreateVolumePermission
	for _, u := range s.SnapshotUsers {
		vol = append(vol, types.CreateVolumePermission{UserId: aws.String(u)})
	}
	for _, g := range s.SnapshotGroups {
		vol = append(vol, types.CreateVolumePermission{Group: types.PermissionGroup(g)})
	}
	if len(vol) == 0 {
		return nil
	}
	for _, snap := range snapshots {
		if _, err := c.ModifySnapshotAttribute(ctx, &sdkec2.ModifySnapshotAttributeInput{SnapshotId: aws.String(snap),
			Attribute:              types.SnapshotAttributeNameCreateVolumePermission,
			CreateVolumePermission: &types.CreateVolumePermissionModifications{Add: vol}}); err != nil {
			return fmt.Errorf("sharing snapshot %s of %s (ModifySnapshotAttribute createVolumePermission): %w", snap, image, err)
		}
	}
	return nil
}
