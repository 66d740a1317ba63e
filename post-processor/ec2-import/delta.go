package ec2import

import (
	"errors"
	"fmt"
	"os"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
)

// pushSuffix names the record of a push beside its input image (the input's own record,
// provenance.SidecarPath, is the build's that made it).
const pushSuffix = ".ec2-import" + provenance.Suffix

// pushRecordPath is where the record of a push of the image at path is written.
func pushRecordPath(path string) string { return path + pushSuffix }

// pushedBase is the root snapshot a record says was pushed to AWS, with the block map of
// what was pushed.
func pushedBase(r *provenance.Record) (provenance.Output, error) {
	if r.WorkingCopy == nil || r.WorkingCopy.BlockSize != provenance.BlockSize {
		return provenance.Output{}, fmt.Errorf("it holds no block map of %d-byte blocks of what was pushed", provenance.BlockSize)
	}
	for _, o := range r.Outputs {
		if o.Kind == "snapshot" && o.Cloud == "aws" && o.ID != "" && o.Disk == 0 {
			return o, nil
		}
	}
	return provenance.Output{}, errors.New("it names no snapshot pushed to AWS (an output of kind snapshot)")
}

// deltaBase finds the base of a delta push: base_provenance, else a record beside the input
// naming a push; it says why one found cannot serve.
func (p *PostProcessor) deltaBase(ui packersdk.Ui, input, region string) (parent string, base *provenance.BlockMap, record string) {
	r, record := p.config.baseRecord, p.config.BaseProvenance
	if r == nil {
		for _, cand := range []string{pushRecordPath(input), provenance.SidecarPath(input)} {
			if _, err := os.Stat(cand); err != nil {
				continue
			}
			rr, err := provenance.Read(cand)
			if err != nil {
				ui.Message(fmt.Sprintf("Not a delta push: %v", err))
				return "", nil, ""
			}
			if _, err := pushedBase(rr); err == nil {
				r, record = rr, cand
				break
			}
		}
	}
	if r == nil {
		return "", nil, ""
	}
	out, err := pushedBase(r)
	if err != nil {
		ui.Message(fmt.Sprintf("Not a delta push: %s: %v", record, err))
		return "", nil, ""
	}
	if out.Region != "" && out.Region != region {
		ui.Say(fmt.Sprintf("Not a delta push: %s pushed snapshot %s to %s, this push goes to %s", record, out.ID, out.Region, region))
		return "", nil, ""
	}
	return out.ID, r.WorkingCopy, record
}

// currentMap is the block map of the raw input image at path from the build's record beside it,
// when its stamp says the file was not written since (provenance.Stamp): a delta push then
// reads only the blocks that differ from its parent. Otherwise nil, and every block is read.
func currentMap(ui packersdk.Ui, path, format string) *provenance.BlockMap {
	if format != "raw" {
		return nil
	}
	rec := provenance.SidecarPath(path)
	r, err := provenance.Read(rec)
	if err != nil || r.WorkingCopy == nil {
		return nil
	}
	if err := r.WorkingCopy.Unchanged(path); err != nil {
		ui.Message(fmt.Sprintf("Reading every block of %s to find those that differ (its record %s: %v)", path, rec, err))
		return nil
	}
	ui.Message(fmt.Sprintf("%s is as its record %s maps it: only the blocks that differ from the parent are read", path, rec))
	return r.WorkingCopy
}

// writePushRecord writes the record of a push beside its input: the input's source (from the
// input's own record when there is one), the block map of what was pushed, the base record
// of a delta push, and the snapshot and image made.
func writePushRecord(input, region, base string, res *cloud.Published) (artifact.Provenance, error) {
	r := provenance.New(BuilderID)
	r.Source = provenance.Source{Cloud: "local", Path: input}
	if in, err := provenance.Read(provenance.SidecarPath(input)); err == nil {
		r.Source = in.Source
	}
	if res.Parent != "" {
		r.Base = base
	}
	m := *res.Map
	m.Path = input
	r.WorkingCopy = &m
	r.Outputs = append(r.Outputs,
		provenance.Output{Cloud: "aws", Region: region, Kind: "snapshot", ID: res.SnapshotID, Size: res.Map.Size},
		provenance.Output{Cloud: "aws", Region: region, Kind: "image", ID: res.ImageID})
	for i, s := range res.Snapshots {
		if i > 0 {
			r.Outputs = append(r.Outputs, provenance.Output{Cloud: "aws", Region: region, Kind: "snapshot", ID: s, Disk: i})
		}
	}
	return artifact.WriteProvenance(r, pushRecordPath(input), 0)
}
