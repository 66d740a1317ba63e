package ec2

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	"github.com/chromogenic/packer-plugin-chromogenic/common/progress"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/transfer"
)

// captureSource is what this build captures, as a record names it.
func captureSource(ctx context.Context, state multistep.StateBag, snap string) provenance.Source {
	src := provenance.Source{Cloud: "aws"}
	if cl, ok := state.Get("clients").(*cloud.Clients); ok {
		src.Region = cl.Region
		if snap != "" {
			if v := snapshotVolume(ctx, cl.EC2, snap); v != "" {
				src.Volumes = []string{v}
			}
		}
	}
	if c, ok := state.Get("config").(*Config); ok {
		src.Endpoint = c.CustomEndpointEC2
		if c.IsEucalyptus() {
			src.Cloud = "eucalyptus"
		}
	}
	if inst, ok := state.Get("instance").(*types.Instance); ok {
		src.Instance, src.Image = aws.ToString(inst.InstanceId), aws.ToString(inst.ImageId)
		for _, m := range inst.BlockDeviceMappings {
			if m.Ebs != nil && aws.ToString(m.DeviceName) == aws.ToString(inst.RootDeviceName) {
				if v := aws.ToString(m.Ebs.VolumeId); v != "" && !slices.Contains(src.Volumes, v) {
					src.Volumes = append(src.Volumes, v)
				}
			}
		}
	} else if img, ok := state.Get("source_image").(*types.Image); ok {
		src.Image = aws.ToString(img.ImageId)
	}
	return src
}

// snapshotVolume is the volume a snapshot was taken of ("" when unknown, or a snapshot
// written through the EBS direct API, whose volume id means nothing).
func snapshotVolume(ctx context.Context, c *sdkec2.Client, snap string) string {
	out, err := c.DescribeSnapshots(ctx, &sdkec2.DescribeSnapshotsInput{SnapshotIds: []string{snap}})
	if err != nil || len(out.Snapshots) != 1 {
		return ""
	}
	v := aws.ToString(out.Snapshots[0].VolumeId)
	if v == "vol-ffffffff" {
		return ""
	}
	return v
}

// sameLineage tells whether base was captured from what this build captures: the same
// instance, or (when either is no instance capture) a snapshot of one of its volumes or the
// same image; the error names both when not.
func sameLineage(base, cur provenance.Source, record string) error {
	if base.Region != "" && cur.Region != "" && base.Region != cur.Region {
		return fmt.Errorf("base_provenance %s: captured in region %s, this build captures in %s: refused", record, base.Region, cur.Region)
	}
	if base.Instance != "" && cur.Instance != "" {
		if base.Instance == cur.Instance {
			return nil
		}
	} else {
		for _, v := range cur.Volumes {
			if slices.Contains(base.Volumes, v) {
				return nil
			}
		}
		if base.Instance == "" && cur.Instance == "" && base.Image != "" && base.Image == cur.Image {
			return nil
		}
	}
	return fmt.Errorf("base_provenance %s is from another source: it captured %s, this build captures %s; a capture over a base needs the same instance, volume or image: refused",
		record, describeSource(base), describeSource(cur))
}

func describeSource(s provenance.Source) string {
	what := ""
	if s.Instance != "" {
		what = "instance " + s.Instance + " "
	}
	if s.Image != "" {
		what += "image " + s.Image + " "
	}
	if len(s.Volumes) > 0 {
		what += fmt.Sprintf("volumes %v", s.Volumes)
	} else {
		what += "no known volume"
	}
	return what
}

// baseDisk is what a base record holds of one disk: its working copy's block map as the
// record left it, the blocks its build changed after the capture, and the snapshot captured.
type baseDisk struct {
	m     *provenance.BlockMap
	dirty []int64
	snap  string
}

// baseOf finds disk i (device dev) of this capture in the base record: the root is the root;
// another disk is the one captured at the same device name. ok is false, with the reason, when
// the record has none to start from.
func baseOf(rec *provenance.Record, i int, dev string) (b baseDisk, ok bool, why string) {
	if i == 0 {
		return baseDisk{rec.WorkingCopy, rec.Dirty, rec.Source.Snapshots[0]}, true, ""
	}
	j := slices.Index(rec.Source.Devices, dev)
	switch {
	case j < 1:
		return b, false, "the base captured no disk at " + dev
	case j-1 >= len(rec.OtherDisks) || j >= len(rec.Source.Snapshots) || rec.OtherDisks[j-1] == nil || rec.OtherDisks[j-1].Path == "":
		return b, false, "the base records no working copy of " + dev
	case len(rec.OtherDirty) != len(rec.OtherDisks):
		return b, false, "the base does not say which blocks of " + dev + " its build changed"
	}
	return baseDisk{rec.OtherDisks[j-1], rec.OtherDirty[j-1], rec.Source.Snapshots[j]}, true, ""
}

// recapture makes target (disk what) from a base disk's working copy and the blocks that
// changed between its snapshot and snap (cloud.DownloadChanged). A base that cannot be used
// gives (0, nil, nil) after saying why: the caller downloads in full.
func (s *StepDownload) recapture(ctx context.Context, state multistep.StateBag, b baseDisk, what, snap, image, target string) (int64, *provenance.BlockMap, error) {
	ui := state.Get("ui").(packersdk.Ui)
	cl := state.Get("clients").(*cloud.Clients)
	c := s.Config
	basePath := b.m.Path
	if a, t := absPath(basePath), absPath(target); a == t {
		return 0, nil, fmt.Errorf("base_provenance %s: its working copy %s is this build's working copy: capture into another output_directory (the base is read, never overwritten)", c.BaseProvenance, basePath)
	}
	first := b.snap
	ui.Say(fmt.Sprintf("Recapturing snapshot %s (%s of %s) from %s: the base working copy %s and the blocks changed since snapshot %s...", snap, what, image, c.BaseProvenance, basePath, first))
	var (
		m  *provenance.BlockMap
		rs cloud.RecaptureStats
	)
	start := time.Now()
	bar := progress.NewLazy(ui, "recapture "+snap)
	st, err := transfer.BringHome(ctx, target, bcommon.FileMode(state), transfer.FromFunc(
		func(ctx context.Context, f *os.File, progress transfer.Progress) (int64, error) {
			var err error
			m, rs, err = cloud.DownloadChanged(ctx, cl.EBS, b.m, b.dirty, basePath, first, snap, f, cloud.TransferOptions{
				Workers:  c.EBSConcurrency,
				Progress: progress,
				Logf:     func(format string, args ...any) { ui.Message(fmt.Sprintf(format, args...)) },
			})
			return rs.Bytes, err
		}), bar.Update)
	bar.Close()
	var be *cloud.BaseError
	if errors.As(err, &be) {
		ui.Say(fmt.Sprintf("Falling back to a full download of the %s: %v", what, be.Reason))
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, err
	}
	how := "copied"
	if rs.Reflink {
		how = "reflinked"
	}
	check := "not read again (its stamp matches its record: not written since)"
	if !rs.Trusted {
		check = fmt.Sprintf("checked against its record in %s (%s)", rs.Check.Round(time.Millisecond), rs.Untrusted)
	}
	ui.Message(fmt.Sprintf("%s: %d blocks changed since %s, %d read (%d MiB) in %s; base %s in %s and %s; %d retries",
		what, rs.Changed, first, rs.Blocks, rs.Bytes>>20, time.Since(start).Round(time.Millisecond), how, rs.Copy.Round(time.Millisecond), check, rs.Retries))
	ui.Message(st.String())
	m.Path = absPath(target)
	return rs.VolumeSize / cloud.GiB, m, nil
}

func absPath(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

// writeCaptureRecord writes the provenance record of this capture beside the root's working
// copy (provenance.SidecarPath): the source (cloud, region, instance, image, volumes and the
// snapshots read, the root's first), the block map of each working copy as captured, and
// the base record of a changed-block recapture. A later build names it as base_provenance.
func writeCaptureRecord(ctx context.Context, state multistep.StateBag, root string, disks []cloud.Disk, maps []*provenance.BlockMap, base string) error {
	r := provenance.New(BuilderID)
	r.Base = base
	r.Source = captureSource(ctx, state, disks[0].SnapshotID)
	for _, d := range disks {
		if d.SnapshotID != "" { // a bundle has none
			r.Source.Snapshots = append(r.Source.Snapshots, d.SnapshotID)
			r.Source.Devices = append(r.Source.Devices, d.Device)
		}
	}
	r.WorkingCopy = maps[0]
	for _, m := range maps[1:] {
		// As captured: the build has changed nothing yet (StepRecordWorkingCopy says what it did).
		r.OtherDisks, r.OtherDirty = append(r.OtherDisks, m), append(r.OtherDirty, []int64{})
	}
	state.Put(stateCaptureRecord, r)
	return r.Write(provenance.SidecarPath(root))
}

// stateCaptureRecord holds the record StepDownload wrote (*provenance.Record), its block
// maps as captured: StepRecordWorkingCopy completes it once the build changed the copies.
const stateCaptureRecord = "capture_record"

// bringHomeWhole brings the whole source home into target (capture methods attach and bundle:
// no changed-block API), hashing each block on the way (the capture's block map, with no
// second reading), and over base_provenance's working copy when set: only the blocks that
// differ from it are written. The base must be of the same source (sameLineage). It returns
// the statistics (Map the working copy's, its Path absolute) and the base record's path when
// the base was used ("" else).
func bringHomeWhole(ctx context.Context, state multistep.StateBag, c *Config, target, snap string, src transfer.From, progress transfer.Progress) (transfer.Stats, string, error) {
	ui := state.Get("ui").(packersdk.Ui)
	o := transfer.HomeOptions{Progress: progress, Map: true, Say: ui.Message}
	record := ""
	if c.baseRecord != nil {
		record = absPath(c.BaseProvenance)
		if err := sameLineage(c.baseRecord.Source, captureSource(ctx, state, snap), record); err != nil {
			return transfer.Stats{}, "", err
		}
		o.Base = c.baseRecord.WorkingCopy
		ui.Message(fmt.Sprintf("Updating a copy of the base working copy %s (base_provenance %s): the source is read whole, only the blocks that differ are written", o.Base.Path, record))
	}
	st, err := transfer.BringHomeWith(ctx, target, bcommon.FileMode(state), src, o)
	if err != nil {
		return st, "", err
	}
	if record != "" {
		bcommon.SayUpdate(ui, record, st)
		if st.Update == nil {
			record = ""
		}
	}
	st.Map.Path = absPath(target)
	return st, record, nil
}
