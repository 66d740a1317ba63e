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
	// RootOnly leaves the instance's other EBS volumes out of the image (DataDevices): no
	// snapshot is made of what will not be read.
	RootOnly bool
}

// CreateIntermediate captures an instance with CreateImage (rebooting it unless NoReboot),
// the AMI and its snapshots tagged at creation with BuildTag = a random id, and waits until
// it is available. On failure it deletes what it made, found by that tag too (a pending AMI
// lists no snapshots yet; a lost answer leaves no id), and nothing without the tag. AWS only:
// Eucalyptus knows no TagSpecifications.
func CreateIntermediate(ctx context.Context, cl *Clients, instanceID string, o IntermediateOptions) (*Intermediate, error) {
	build, err := NewBuildID()
	if err != nil {
		return nil, err
	}
	im := &Intermediate{Build: build, cl: cl, wait: o.Timeout}
	tag := func(tags map[string]string) map[string]string { return WithTag(tags, BuildTag, im.Build) }
	name := fmt.Sprintf("chromogenic-%s-%d", instanceID, time.Now().Unix())
	if o.Say != nil {
		o.Say(fmt.Sprintf("Creating the intermediate AMI %s of %s (tag %s=%s)...", name, instanceID, BuildTag, im.Build))
	}
	capture := ImageCapture{InstanceID: instanceID, Name: name, Description: "chromogenic capture, deleted once read",
		NoReboot: o.NoReboot, ImageTags: tag(o.Tags), SnapshotTags: tag(o.SnapshotTags)}
	if o.RootOnly {
		inst, err := FindInstance(ctx, cl.EC2, instanceID, Filter{})
		if err != nil {
			return nil, err
		}
		capture.Exclude = DataDevices(inst)
	}
	id, err := CreateImage(ctx, cl.EC2, capture)
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
	if im.Image != nil {
		return DeleteImage(ctx, im.cl.EC2, im.ID, Snapshots(im.Image)...)
	}
	return DeleteIntermediate(ctx, im.cl, im.ID, nil, im.Build, im.wait)
}

// NewBuildID returns a random BuildTag value.
func NewBuildID() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// WithTag returns tags plus key=value (value wins over a user's tag of the same key).
func WithTag(tags map[string]string, key, value string) map[string]string {
	out := map[string]string{key: value}
	for k, v := range tags {
		if k != key {
			out[k] = v
		}
	}
	return out
}

// DeleteIntermediate deletes what a CreateImage capture made: the AMI id (when known) with
// snaps, its snapshots (nil: not known yet, so a pending AMI is waited for, at most
// min(wait, 4 min), until it lists them), and, when build is set (the AMI and snapshots were
// tagged BuildTag=build at creation and the AMI never became available), every AMI and then
// every snapshot that carries that tag: nothing without it.
func DeleteIntermediate(ctx context.Context, cl *Clients, id string, snaps []string, build string, wait time.Duration) error {
	c := cl.EC2
	var errs []error
	if id != "" {
		if snaps == nil {
			if img, err := WaitImage(ctx, c, id, min(wait, 4*time.Minute)); err == nil {
				snaps = Snapshots(img)
			}
		}
		errs = append(errs, DeleteImage(ctx, c, id, snaps...))
	}
	if build == "" {
		return errors.Join(errs...)
	}
	imgs, _, err := FindTagged(ctx, c, BuildTag, build)
	errs = append(errs, err)
	for _, img := range imgs {
		var tsnaps []string
		if img.State == types.ImageStateAvailable {
			tsnaps = Snapshots(&img)
		}
		errs = append(errs, DeleteIntermediate(ctx, cl, aws.ToString(img.ImageId), tsnaps, "", wait))
	}
	_, left, err := FindTagged(ctx, c, BuildTag, build)
	errs = append(errs, err)
	for _, sn := range left {
		errs = append(errs, DeleteSnapshot(ctx, c, sn))
	}
	return errors.Join(errs...)
}
