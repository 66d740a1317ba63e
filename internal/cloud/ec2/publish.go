package ec2

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2/bundle"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
)

// Report is how a publication tells its caller what it does: Say a stage, Message a detail,
// Error a failure it goes on after (a cleanup that did not work), Progress the bytes moved.
// Any of them may be nil. The Packer faces turn them into UI lines and a progress bar;
// cmd/chromogenic into its own output.
type Report struct {
	Say      func(string)
	Message  func(string)
	Error    func(string)
	Progress func(done, total int64)
}

func (r Report) say(f string, a ...any) {
	if r.Say != nil {
		r.Say(fmt.Sprintf(f, a...))
	}
}

func (r Report) message(f string, a ...any) {
	if r.Message != nil {
		r.Message(fmt.Sprintf(f, a...))
	}
}

func (r Report) error(err error) {
	if r.Error != nil && err != nil {
		r.Error(err.Error())
	}
}

func (r Report) progress(done, total int64) {
	if r.Progress != nil {
		r.Progress(done, total)
	}
}

// Published is what a publication made: the image, and the snapshot (EBS-backed images) or
// the bundle objects (instance-store images on Eucalyptus) it is made of.
type Published struct {
	ImageID    string
	SnapshotID string   // EBS-backed images: the root's
	Snapshots  []string // EBS-backed images: every disk's snapshot, SnapshotID first
	Bucket     string   // Eucalyptus bundle
	Keys       []string // its objects (the image's; deleted with it)
	// Map is the block map of the root image written (EBS direct), Parent the snapshot it
	// was a delta push onto (empty: a full push), Note why a delta push asked for was not.
	Map          *provenance.BlockMap
	Parent, Note string
	Stats        TransferStats // the root's transfer
}

// PublishOptions describe the AMI Publish registers.
type PublishOptions struct {
	Name, Description      string
	Tags, SnapshotTags     map[string]string
	Source                 *types.Image // attributes to copy, may be nil
	Architecture, BootMode string
	ENA                    *bool
	RootDeviceName         string
	VolumeType             string
	VolumeSizeGiB          int64 // root volume size; raised to the snapshot's when smaller
	IMDSSupport            string
	Concurrency            int
	StateTimeout           time.Duration
	Report                 Report
	// Encrypted makes the new root snapshot encrypted with KMSKeyID (a key ARN; empty: the
	// account's default EBS key). A copy to other regions (CopyImage) must encrypt with a key
	// of each region: these say the home region's choice only.
	Encrypted bool
	KMSKeyID  string
	// Replace says what to do with an AMI of the account that has the same name: it is
	// deregistered (Replace.Force) right before the registration.
	Replace Replace
	// Others are the other disks of a guest on several disks, after the root (img).
	Others []OtherDisk
	// ParentSnapshotID and Base make the root's snapshot a delta push onto that snapshot,
	// whose content Base maps (UploadOptions); when the parent cannot be used (gone, encrypted
	// otherwise than asked, refused by EBS) the root is pushed in full and Published.Note
	// says why.
	ParentSnapshotID string
	Base             *provenance.BlockMap
	// Current is the root image's block map as it is now, if the caller is sure of it (a
	// record whose stamp matches the raw file): the delta push then reads only the blocks
	// that differ from Base (UploadOptions.Current).
	Current *provenance.BlockMap
}

// OtherDisk is a disk of a guest on several disks besides the root, published with it.
type OtherDisk struct {
	Image diskimage.Image // read, never closed by Publish
	Label string          // names the disk in messages
	// Device is the mapping's device name; empty: the next name after the root's
	// (OtherDeviceNames).
	Device string
	// VolumeSizeGiB of the mapping, raised to the image's size when smaller (0: the image's).
	VolumeSizeGiB int64
	// VolumeType of the mapping (empty: the root's); DeleteOnTermination (nil: true).
	VolumeType          string
	DeleteOnTermination *bool
	// Iops and Throughput of the mapping (0: the volume type's default), kept only with the
	// source's VolumeType.
	Iops, Throughput int32
}

// Publish writes img (streamed from the image engine's reader: no temporary copy; only its
// data extents are read) into a new EBS snapshot through the EBS direct API and registers it
// as an AMI, with the attributes of o.Source where o leaves them empty. label names the image
// in messages. With o.Others, each other disk is written into a snapshot of its own (tagged
// and encrypted as the root's) and mapped in the AMI too. On failure nothing it made is left
// behind: every snapshot it wrote is deleted, and nothing else. It does not close img.
func Publish(ctx context.Context, cl *Clients, img diskimage.Image, label string, o PublishOptions) (*Published, error) {
	r := o.Report
	var snaps []string // every snapshot written so far, the root's first
	undo := func(ami string) {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		defer cancel()
		var derr error
		if ami != "" {
			derr = DeleteImage(dctx, cl.EC2, ami, snaps...)
		} else {
			var errs []error
			for _, s := range snaps {
				errs = append(errs, DeleteSnapshot(dctx, cl.EC2, s))
			}
			derr = errors.Join(errs...)
		}
		if derr != nil {
			r.error(fmt.Errorf("cleaning up after the failure: %w", derr))
		}
	}
	var delta Published
	snap, err := publishSnapshot(ctx, cl, img, label, o, &delta)
	if err != nil {
		return nil, err
	}
	snaps = append(snaps, snap)
	size := (img.Size() + GiB - 1) / GiB
	n := NewImage{VolumeSizeGiB: max(o.VolumeSizeGiB, size), Name: o.Name, Description: o.Description, SnapshotID: snap, VolumeType: o.VolumeType,
		Architecture: o.Architecture, BootMode: o.BootMode, RootDeviceName: o.RootDeviceName, ImdsSupport: o.IMDSSupport,
		Tags: o.Tags} // tagged at registration
	if s := o.Source; s != nil {
		if n.Architecture == "" {
			n.Architecture = string(s.Architecture)
		}
		if n.BootMode == "" {
			n.BootMode = string(s.BootMode)
		}
		if n.RootDeviceName == "" {
			n.RootDeviceName = aws.ToString(s.RootDeviceName)
		}
		n.ENA = aws.ToBool(s.EnaSupport)
		n.SriovNetSupport = aws.ToString(s.SriovNetSupport)
		if n.ImdsSupport == "" {
			n.ImdsSupport = string(s.ImdsSupport)
		}
		n.TpmSupport = string(s.TpmSupport)
	}
	if o.ENA != nil {
		n.ENA = *o.ENA
	}
	root := n.RootDeviceName
	if root == "" {
		root = "/dev/xvda"
	}
	// Disks without a device name take the next names after the root's that no other disk
	// has.
	used := map[string]bool{root: true}
	for _, d := range o.Others {
		used[d.Device] = true
	}
	var names []string
	for _, name := range OtherDeviceNames(root, 2*len(o.Others)+1) {
		if !used[name] {
			names = append(names, name)
		}
	}
	for i, d := range o.Others {
		od := o
		od.ParentSnapshotID, od.Base, od.Current = "", nil, nil // the root alone is pushed as a delta
		snap, err := publishSnapshot(ctx, cl, d.Image, d.Label, od, nil)
		if err != nil {
			undo("")
			return nil, fmt.Errorf("disk %d (%s): %w", i+2, d.Label, err)
		}
		snaps = append(snaps, snap)
		dev := d.Device
		if dev == "" {
			dev, names = names[0], names[1:]
		}
		gib := (d.Image.Size() + GiB - 1) / GiB
		n.Others = append(n.Others, Disk{Device: dev, SnapshotID: snap, VolumeSizeGiB: max(d.VolumeSizeGiB, gib),
			VolumeType: d.VolumeType, DeleteOnTermination: d.DeleteOnTermination, Iops: d.Iops, Throughput: d.Throughput})
	}
	if o.Replace.Force {
		if err := Deregister(ctx, cl.EC2, o.Name, o.Replace, r); err != nil {
			undo("")
			return nil, err
		}
	}
	if len(n.Others) > 0 {
		var devs []string
		for _, d := range n.Others {
			devs = append(devs, d.Device+"="+d.SnapshotID)
		}
		r.message("Other disks: %s", strings.Join(devs, ", "))
	}
	disks := ""
	if len(n.Others) > 0 {
		disks = fmt.Sprintf(", %d disks", 1+len(n.Others))
	}
	r.say("Registering AMI %q (%s, boot mode %q, ENA %v, root %s%s)...", n.Name, n.Architecture, n.BootMode, n.ENA, n.RootDeviceName, disks)
	ami, err := RegisterImage(ctx, cl.EC2, n)
	if err != nil {
		undo("")
		return nil, err
	}
	if _, err := WaitImage(ctx, cl.EC2, ami, o.StateTimeout); err != nil {
		undo(ami)
		return nil, err
	}
	r.say("AMI %s (%s) is available in %s", ami, o.Name, cl.Region)
	return &Published{ImageID: ami, SnapshotID: snaps[0], Snapshots: snaps, Map: delta.Map, Parent: delta.Parent, Note: delta.Note, Stats: delta.Stats}, nil
}

// publishSnapshot writes one disk into a new snapshot through the EBS direct API (removed
// again on failure by UploadSnapshot), with o's tags and encryption.
func publishSnapshot(ctx context.Context, cl *Clients, img diskimage.Image, label string, o PublishOptions, res *Published) (string, error) {
	r := o.Report
	exts, err := img.Extents(ctx)
	if err != nil {
		return "", err
	}
	var data []Range
	for _, e := range exts {
		if e.Kind == diskimage.Data {
			data = append(data, Range{Offset: e.Offset, Length: e.Length})
		}
	}
	uo := UploadOptions{
		TransferOptions: TransferOptions{
			Workers:  o.Concurrency,
			Progress: r.progress,
			Logf:     r.message,
		},
		Description: "chromogenic: " + o.Name,
		Tags:        o.SnapshotTags,
		WaitTimeout: o.StateTimeout,
		Encrypted:   o.Encrypted,
		KMSKeyARN:   o.KMSKeyID,
	}
	start := time.Now()
	var (
		snap string
		st   TransferStats
	)
	if o.ParentSnapshotID != "" {
		r.say("Writing %s (%s, %d MiB virtual) as a delta onto snapshot %s through the EBS direct API: only the blocks that differ from it...", label, img.Format(), img.Size()>>20, o.ParentSnapshotID)
		du := uo
		du.ParentSnapshotID, du.Base, du.Current = o.ParentSnapshotID, o.Base, o.Current
		snap, st, err = UploadSnapshot(ctx, cl, img, img.Size(), data, du)
		var be *BaseError
		if errors.As(err, &be) {
			note := fmt.Sprintf("delta push onto %s not possible, pushing in full: %v", o.ParentSnapshotID, be.Reason)
			r.say("%s", note)
			if res != nil {
				res.Note = note
			}
			snap, err = "", nil
		} else if err == nil && res != nil {
			res.Parent = o.ParentSnapshotID
		}
	}
	if snap == "" && err == nil {
		r.say("Writing %s (%s, %d MiB virtual) into a new snapshot through the EBS direct API...", label, img.Format(), img.Size()>>20)
		start = time.Now()
		snap, st, err = UploadSnapshot(ctx, cl, img, img.Size(), data, uo)
	}
	if err != nil {
		return "", err
	}
	if res != nil {
		res.Map, res.Stats = st.Map, st
	}
	secs := max(time.Since(start).Seconds(), 0.001)
	r.message("Snapshot %s completed: %d blocks (%d MiB) in %s, %.0f MiB/s, %d retries",
		snap, st.Blocks, st.Bytes>>20, time.Since(start).Round(time.Millisecond), float64(st.Bytes)/secs/(1<<20), st.Retries)
	return snap, nil
}

// EucaPublishOptions describe the EMI PublishEucalyptus registers.
type EucaPublishOptions struct {
	Name, Description  string
	Tags, SnapshotTags map[string]string
	Architecture       string // default x86_64
	RootDeviceName     string // default /dev/sda
	VolumeType         string // import-volume: the root volume type (default standard)
	StateTimeout       time.Duration
	// Register is how: "bundle" (the default) or "import-volume".
	Register string
	// Bucket holds the new bundle or the ImportVolume parts.
	Bucket string
	// AvailabilityZone of the imported volume (import-volume).
	AvailabilityZone string
	// AccountID is the owner written in bundle manifests.
	AccountID string
	// Keys sign the bundle and encrypt it to the user and the cloud (bundle).
	Keys BundleKeys
	// Boot: hvm (the default), or paravirtual with the EMI's kernel and ramdisk.
	Boot EucaBoot
	// AncestorAMIIDs go into the new bundle's manifest (<ancestry>): the image it was
	// rebundled from, then that image's own ancestors (bundle).
	AncestorAMIIDs []string
	Report         Report
	// Replace says what to do with an EMI of the account that has the same name: it is
	// deregistered (Replace.Force) right before the registration.
	Replace Replace
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// PublishEucalyptus registers img (streamed) on Eucalyptus: as an instance-store bundle
// uploaded to the bucket and registered with RegisterImage(ImageLocation), or with Register
// "import-volume" through ImportVolume, CreateSnapshot and RegisterImage of an EBS-backed HVM
// image. Only EC2 API 2016-09-15 parameters are sent; tags are set with CreateTags afterwards.
// label names the image in messages. On failure nothing it made is left: no image, no bundle
// object, no volume or snapshot. It does not close img.
func PublishEucalyptus(ctx context.Context, cl *Clients, img diskimage.Image, label string, o EucaPublishOptions) (*Published, error) {
	r := o.Report
	if o.Architecture == "" {
		o.Architecture = "x86_64"
	}
	if o.RootDeviceName == "" {
		o.RootDeviceName = "/dev/sda"
	}
	res := &Published{}
	undo := func(cause error) error {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		defer cancel()
		r.say("Removing what the failed registration made...")
		var errs []error
		if res.ImageID != "" {
			errs = append(errs, DeleteImage(dctx, cl.EC2, res.ImageID, res.SnapshotID))
		} else if res.SnapshotID != "" {
			errs = append(errs, DeleteSnapshot(dctx, cl.EC2, res.SnapshotID))
		}
		if len(res.Keys) > 0 {
			errs = append(errs, DeleteObjects(dctx, cl.S3, res.Bucket, res.Keys))
		}
		for _, err := range errs {
			if err != nil {
				r.error(fmt.Errorf("cleaning up after the failure: %w", err))
			}
		}
		return cause
	}
	start := time.Now()
	switch o.Register {
	case "import-volume":
		r.say("Importing %s (%s, %d MiB) with ImportVolume through s3://%s...", label, img.Format(), img.Size()>>20, o.Bucket)
		vol, err := ImportVolume(ctx, cl, img, img.Size(), ImportVolumeOptions{
			Bucket: o.Bucket, Prefix: fmt.Sprintf("chromogenic-import-%s-%d", unsafeName.ReplaceAllString(o.Name, "_"), time.Now().Unix()),
			AvailabilityZone: o.AvailabilityZone, Description: "chromogenic: " + o.Name, Timeout: o.StateTimeout, Logf: r.message,
		})
		if err != nil {
			return nil, undo(err)
		}
		r.message("Volume %s imported (%s); snapshotting it...", vol, time.Since(start).Round(time.Second))
		snap, err := SnapshotVolume(ctx, cl.EC2, vol, "chromogenic: "+o.Name, o.StateTimeout)
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		r.error(DeleteVolume(dctx, cl.EC2, vol))
		cancel()
		if err != nil {
			return nil, undo(err)
		}
		res.SnapshotID = snap
		if err := CreateTags(ctx, cl.EC2, o.SnapshotTags, snap); err != nil {
			return nil, undo(err)
		}
		if o.Replace.Force {
			if err := Deregister(ctx, cl.EC2, o.Name, o.Replace, r); err != nil {
				return nil, undo(err)
			}
		}
		r.say("Registering EMI %q (%s, %s, root %s on %s)...", o.Name, o.Architecture, o.Boot, o.RootDeviceName, snap)
		res.ImageID, err = RegisterImage(ctx, cl.EC2, NewImage{Name: o.Name, Description: o.Description, Architecture: o.Architecture,
			RootDeviceName: o.RootDeviceName, SnapshotID: snap, VolumeType: o.VolumeType, Boot: o.Boot, Minimal: true})
		if err != nil {
			return nil, undo(err)
		}
	default:
		prefix := fmt.Sprintf("%s-%d", unsafeName.ReplaceAllString(o.Name, "_"), time.Now().Unix())
		r.say("Bundling %s (%s, %d MiB) into s3://%s/%s...", label, img.Format(), img.Size()>>20, o.Bucket, prefix)
		k := o.Keys
		ub, err := UploadBundle(ctx, cl, io.NewSectionReader(img, 0, img.Size()), img.Size(), o.Bucket, bundle.WriteOptions{
			Name: prefix + ".img", Prefix: prefix, User: o.AccountID, Architecture: o.Architecture,
			BlockDevices: map[string]string{"ami": strings.TrimPrefix(o.RootDeviceName, "/dev/"), "root": o.RootDeviceName},
			KernelID:     o.Boot.KernelID, RamdiskID: o.Boot.RamdiskID, AncestorAMIIDs: o.AncestorAMIIDs,
			SignKey: k.UserKey, UserCert: k.UserCert, CloudCert: k.CloudCert,
			Progress: func(done int64) { r.progress(done, img.Size()) },
		})
		if err != nil {
			return nil, err // UploadBundle removed its objects
		}
		res.Bucket, res.Keys = ub.Bucket, ub.Keys
		r.message("Bundle %s: %d parts, %d MiB, in %s", ub.Location, len(ub.Manifest.Parts), ub.Manifest.BundledSize>>20, time.Since(start).Round(time.Second))
		if o.Replace.Force {
			if err := Deregister(ctx, cl.EC2, o.Name, o.Replace, r); err != nil {
				return nil, undo(err)
			}
		}
		r.say("Registering EMI %q (%s) from %s...", o.Name, o.Boot, ub.Location)
		res.ImageID, err = RegisterBundle(ctx, cl.EC2, o.Name, o.Description, ub.Location, o.Architecture, o.RootDeviceName, o.Boot)
		if err != nil {
			return nil, undo(err)
		}
	}
	if _, err := WaitImage(ctx, cl.EC2, res.ImageID, o.StateTimeout); err != nil {
		return nil, undo(err)
	}
	if err := CreateTags(ctx, cl.EC2, o.Tags, res.ImageID); err != nil {
		return nil, undo(err)
	}
	r.say("EMI %s (%s) is available (%s)", res.ImageID, o.Name, time.Since(start).Round(time.Second))
	return res, nil
}
