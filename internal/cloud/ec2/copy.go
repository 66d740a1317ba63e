package ec2

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// EC2In is an EC2 client of the same credentials for another region. With a custom EC2
// endpoint every region is reached through it (emulators, private clouds): the region only
// changes the signature's scope.
func (c *Clients) EC2In(region string) *sdkec2.Client {
	if region == c.Region {
		return c.EC2
	}
	return sdkec2.NewFromConfig(c.Config, func(o *sdkec2.Options) {
		o.Region = region
		if c.ec2Endpoint != "" {
			o.BaseEndpoint = aws.String(c.ec2Endpoint)
		}
	})
}

// CopyOptions describe a regional copy of an image.
type CopyOptions struct {
	Name, Description  string
	Tags, SnapshotTags map[string]string
	// Encrypted copies (the copy of an encrypted image must be), with KMSKeyID, the key in
	// the destination region (empty: the region's default EBS key).
	Encrypted bool
	KMSKeyID  string
	Share     Share
	Timeout   time.Duration
}

// CopyImage copies image, available in c.Region, into region (CopyImage sent to that
// region), waits for the copy to be available, tags it and its snapshots and shares them.
// On failure the copy is deleted: the caller gets a copy whole or nothing.
func CopyImage(ctx context.Context, c *Clients, image, region string, o CopyOptions) (*Published, error) {
	dst := c.EC2In(region)
	in := &sdkec2.CopyImageInput{SourceImageId: aws.String(image), SourceRegion: aws.String(c.Region), Name: aws.String(o.Name)}
	if o.Description != "" {
		in.Description = aws.String(o.Description)
	}
	if o.Encrypted {
		in.Encrypted = aws.Bool(true)
		if o.KMSKeyID != "" {
			in.KmsKeyId = aws.String(o.KMSKeyID)
		}
	}
	out, err := dst.CopyImage(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("CopyImage of %s to %s: %w", image, region, err)
	}
	res := &Published{ImageID: aws.ToString(out.ImageId)}
	fail := func(cause error) (*Published, error) {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		defer cancel()
		if err := DeleteImage(dctx, dst, res.ImageID); err != nil {
			return nil, errors.Join(cause, fmt.Errorf("deleting the copy %s in %s: %w", res.ImageID, region, err))
		}
		return nil, cause
	}
	im, err := WaitImage(ctx, dst, res.ImageID, o.Timeout)
	if err != nil {
		return fail(fmt.Errorf("copy %s of %s in %s: %w", res.ImageID, image, region, err))
	}
	snaps := Snapshots(im)
	if root, _, err := RootSnapshot(im); err == nil { // an AMI of several disks maps several
		res.SnapshotID = root
	} else if len(snaps) > 0 {
		res.SnapshotID = snaps[0]
	}
	if len(snaps) > 1 {
		res.Snapshots = snaps
	}
	if err := CreateTags(ctx, dst, o.Tags, res.ImageID); err != nil {
		return fail(err)
	}
	if err := CreateTags(ctx, dst, o.SnapshotTags, snaps...); err != nil {
		return fail(err)
	}
	if err := ShareImage(ctx, dst, res.ImageID, snaps, o.Share); err != nil {
		return fail(err)
	}
	return res, nil
}

// ValidateRegions checks region names against the cloud's DescribeRegions (all regions,
// opted in or not), as packer-plugin-amazon does: the list is the cloud's, not a list
// compiled in, so new regions work. Each error names the unknown region.
func ValidateRegions(ctx context.Context, c *sdkec2.Client, regions ...string) error {
	out, err := c.DescribeRegions(ctx, &sdkec2.DescribeRegionsInput{AllRegions: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("DescribeRegions (set skip_region_validation to skip the check): %w", err)
	}
	var known []string
	for _, r := range out.Regions {
		known = append(known, aws.ToString(r.RegionName))
	}
	var errs []error
	for _, r := range regions {
		if !slices.Contains(known, r) {
			errs = append(errs, fmt.Errorf("region %q is not a region of this cloud (DescribeRegions: %v); set skip_region_validation to use it anyway", r, known))
		}
	}
	return errors.Join(errs...)
}

// Encrypted tells whether any EBS volume of an image is encrypted.
func Encrypted(im *types.Image) bool {
	for _, b := range im.BlockDeviceMappings {
		if b.Ebs != nil && aws.ToBool(b.Ebs.Encrypted) {
			return true
		}
	}
	return false
}

// CopyImages copies image (available in c.Region) to each region in turn (CopyImage), with
// the options opts gives for it, reporting each copy. It returns the copies by region. On
// failure the copies it made are deleted and the error names the region: the caller gets
// every copy or none. image itself is the caller's.
func CopyImages(ctx context.Context, c *Clients, image string, regions []string, opts func(region string) CopyOptions, r Report) (map[string]*Published, error) {
	done := map[string]*Published{}
	for _, region := range regions {
		o := opts(region)
		r.say("Copying %s to %s as %q (encrypted %v)...", image, region, o.Name, o.Encrypted)
		start := time.Now()
		p, err := CopyImage(ctx, c, image, region, o)
		if err != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
			defer cancel()
			for _, dr := range sortedKeys(done) {
				r.say("Deleting the copy %s in %s...", done[dr].ImageID, dr)
				if derr := DeleteImage(dctx, c.EC2In(dr), done[dr].ImageID); derr != nil {
					r.error(fmt.Errorf("cleaning up after the failure: %w", derr))
				}
			}
			return nil, err
		}
		r.message("%s: %s (snapshot %s) available in %s", region, p.ImageID, p.SnapshotID, time.Since(start).Round(time.Second))
		done[region] = p
	}
	return done, nil
}
