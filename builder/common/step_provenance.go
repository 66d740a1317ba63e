package common

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
)

// State keys of the provenance record.
const (
	// StateProvenanceRecord is the *provenance.Record StepProvenance wrote; AddProvenanceOutputs
	// adds to it.
	StateProvenanceRecord = "provenance_record"
	// StateProvenanceBase is the path of the record a build started from (a changed-block
	// recapture), set by the step that used it; StepProvenance records it as the base.
	StateProvenanceBase = "provenance_base"
)

// StepProvenance writes the build's provenance record beside the working copy
// (provenance.SidecarPath of the boot disk's): the source the builder names, the block map of
// every disk's working copy (mapped here, holes never read), what chromogenic-clean did (its
// clean note beside the working copy, read bounded, folded in and removed), and the outputs
// the builder names, and, when the capture left the working copy's map as it was brought
// home (StateCaptureMap), the blocks the build changed since (Record.Dirty). It runs once the working copy is final (after StepRelease and any step
// that still writes it). The artifact takes the record from artifact.BuildProvenance (New
// does; other artifacts call SetProvenance or Put); Destroy removes it with the working
// copy, a failed build here (Cleanup).
//
// Needs: working_image (and working_images). Produces: artifact.BuildProvenance,
// StateProvenanceRecord.
type StepProvenance struct {
	Producer string                                       // the builder's type, e.g. chromogenic-local
	Source   func(multistep.StateBag) provenance.Source   // what the build captured
	Outputs  func(multistep.StateBag) []provenance.Output // cloud objects made; may be nil
	Boot     func(multistep.StateBag) *provenance.Boot    // may be nil

	path string
}

func (s *StepProvenance) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	image := state.Get(StateWorkingImage).(string)
	images, _ := state.Get(StateWorkingImages).([]string)
	if len(images) == 0 {
		images = []string{image}
	}
	start := time.Now()
	r := provenance.New(s.Producer)
	if s.Source != nil {
		r.Source = s.Source(state)
	}
	if base, ok := state.GetOk(StateProvenanceBase); ok {
		r.Base, _ = base.(string)
	}
	var data int64
	for i, p := range images {
		m, err := provenance.Map(ctx, p)
		if err != nil {
			return Halt(state, fmt.Errorf("provenance: %w", err))
		}
		m.Path = AbsPath(p) // a later build names this record as its base from anywhere
		for _, h := range m.Blocks {
			if h != "" {
				data++
			}
		}
		if i == 0 {
			r.WorkingCopy = m
			if captured, ok := state.Get(StateCaptureMap).(*provenance.BlockMap); ok {
				// The blocks the build changed since the capture (the mount, provisioners).
				if r.Dirty, err = m.Changed(captured); err != nil {
					return Halt(state, fmt.Errorf("provenance: %w", err))
				}
			}
		} else {
			r.OtherDisks = append(r.OtherDisks, m)
		}
	}
	if s.Boot != nil {
		r.Boot = s.Boot(state)
	}
	if s.Outputs != nil {
		r.Outputs = s.Outputs(state)
	}
	s.path = provenance.SidecarPath(image)
	if err := WriteRecordWithCleanNote(state, r, image); err != nil {
		return Halt(state, err)
	}
	ui.Say(fmt.Sprintf("Provenance record written: %s (%d disk(s), %d blocks with data hashed in %s)",
		s.path, len(images), data, time.Since(start).Round(time.Millisecond)))
	return multistep.ActionContinue
}

// Cleanup removes the record (and a clean note left) when the build failed.
func (s *StepProvenance) Cleanup(state multistep.StateBag) {
	if !Failed(state) {
		return
	}
	if s.path != "" {
		os.Remove(s.path)
	}
	if image, ok := state.Get(StateWorkingImage).(string); ok {
		os.Remove(provenance.CleanNotePath(image))
	}
}

// WriteRecordWithCleanNote folds chromogenic-clean's note beside the working copy image
// into r (provenance.Record.FoldCleanNote: the runs added to those r has, AddCleanRuns, as
// the chromogenic CLI's clean --image adds its own), writes r beside image
// (provenance.SidecarPath) with the build's file mode, puts it in state and removes the note.
func WriteRecordWithCleanNote(state multistep.StateBag, r *provenance.Record, image string) error {
	note, err := r.FoldCleanNote(image)
	if err != nil {
		return fmt.Errorf("provenance: %w", err)
	}
	if err := writeRecord(state, r, provenance.SidecarPath(image)); err != nil {
		return err
	}
	if err := os.Remove(note); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("provenance: remove the clean note: %w", err)
	}
	return nil
}

// writeRecord writes r at path with the build's file mode and puts it in state.
func writeRecord(state multistep.StateBag, r *provenance.Record, path string) error {
	p, err := artifact.WriteProvenance(r, path, FileMode(state))
	if err != nil {
		return err
	}
	state.Put(StateProvenanceRecord, r)
	state.Put(artifact.BuildProvenance, p)
	return nil
}

// AddProvenanceOutputs adds outputs (an image, AMI or snapshot a later step made) to the
// record StepProvenance wrote and writes it again; without a record it does nothing.
func AddProvenanceOutputs(state multistep.StateBag, outs ...provenance.Output) error {
	r, ok := state.Get(StateProvenanceRecord).(*provenance.Record)
	p, ok2 := state.Get(artifact.BuildProvenance).(artifact.Provenance)
	if !ok || !ok2 || len(outs) == 0 {
		return nil
	}
	r.Outputs = append(r.Outputs, outs...)
	return writeRecord(state, r, p.Path)
}
