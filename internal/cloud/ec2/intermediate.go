package ec2

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// BuildTag is the tag key of the intermediate AMI and snapshots of one capture; the value is
// random per capture.
const BuildTag = "chromogenic:build"

// Intermediate is an AMI made by CreateImage only so that its root snapshot can be read.
type Intermediate struct {
	ID    string       // the AMI ("" when CreateImage's answer was lost)
	Build string       // the BuildTag value
	Image *types.Image // once available
	cl    *Clients
	wait  time.Duration
}

// IntermediateOptions describe the capture.
type IntermediateOptions struct {
	NoReboot           bool
	Tags, SnapshotTags map[string]string // besides BuildTag
	Timeout            time.Duration     // the wait until available
	Say                func(string)
}

// CreateIntermediate captures an instance with CreateImage (rebooting it unless NoReboot),
// the AMI and its snapshots tagged at creation with BuildTag = a random id, and waits until
// it is available. On failure it deletes what it made, found by that tag too (a pending AMI
// lists no snapshots yet; a lost answer leaves no id), and nothing without the tag. AWS only:
// Eucalyptus knows no TagSpecifications.
func CreateIntermediate(ctx context.Context, cl *Clients, instanceID string, o IntermediateOptions) (*Intermediate, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	im := &Intermediate{Build: hex.EncodeToString(b), cl: cl, wait: min(o.Timeout, 4*time.Minute)}
	tag := func(tags map[string]string) map[string]string {
		out := map[string]string{BuildTag: im.Build}
		for k, v := range tags {
			if k != BuildTag {
				out[k] = v
			}
		}
		return out
	}
	name := fmt.Sprintf("chromogenic-%s-%d", instanceID, time.Now().Unix())
	if o.Say != nil {
		o.Say(fmt.Sprintf("Creating the intermediate AMI %s of %s (tag %s=%s)...", name, instanceID, BuildTag, im.Build))
	}
	id, err := CreateImage(ctx, cl.EC2, instanceID, name, "chromogenic capture, deleted once read", o.NoReboot, tag(o.Tags), tag(o.SnapshotTags))
	im.ID = id
	if err == nil {
		im.Image, err = WaitImage(ctx, cl.EC2, id, o.Timeout)
	}
	if err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		defer cancel()
		return nil, errors.Join(err, im.Delete(dctx))
	}
	return im, nil
}

// Delete deletes the intermediate AMI and its snapshots; when it never became available,
// everything that carries its BuildTag value too.
func (im *Intermediate) Delete(ctx context.Context) error {
	c := im.cl.EC2
	if im.Image != nil {
		return DeleteImage(ctx, c, im.ID, Snapshots(im.Image)...)
	}
	var errs []error
	if im.ID != "" {
		// A pending AMI's snapshots are not known yet: wait (bounded) for it to settle.
		var snaps []string
		if img, err := WaitImage(ctx, c, im.ID, im.wait); err == nil {
			snaps = Snapshots(img)
		}
		errs = append(errs, DeleteImage(ctx, c, im.ID, snaps...))
	}
	imgs, _, err := FindTagged(ctx, c, BuildTag, im.Build)
	errs = append(errs, err)
	for _, img := range imgs {
		var snaps []string
		if img.State == types.ImageStateAvailable {
			snaps = Snapshots(&img)
		}
		errs = append(errs, DeleteImage(ctx, c, aws.ToString(img.ImageId), snaps...))
	}
	_, snaps, err := FindTagged(ctx, c, BuildTag, im.Build)
	errs = append(errs, err)
	for _, sn := range snaps {
		errs = append(errs, DeleteSnapshot(ctx, c, sn))
	}
	return errors.Join(errs...)
}
