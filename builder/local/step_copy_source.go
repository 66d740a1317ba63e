package local

import (
	"context"
	"fmt"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	"github.com/chromogenic/packer-plugin-chromogenic/common/progress"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/transfer"
)

// StepCopySource reads the source image (any format the engine reads) and writes it as the
// sparse raw working copy. The source is opened read-only.
//
// With several disks there is one such step per disk; Disk is its index, and only the
// first (the boot disk) sets working_image (the builder sets working_images).
//
// Produces: working_image string
type StepCopySource struct {
	Source, Format, Target string
	Disk                   int
	ok                     bool
}

func (s *StepCopySource) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	src, err := diskimage.OpenFormat(s.Source, s.Format)
	if err != nil {
		return bcommon.Halt(state, fmt.Errorf("%s: %w", s.field(), err))
	}
	defer src.Close()
	ui.Say(fmt.Sprintf("Copying %s (%s, %d MiB virtual) to the working copy %s...",
		s.Source, src.Format(), src.Size()>>20, s.Target))
	bar := progress.New(ui, "working copy", src.Size())
	st, err := transfer.BringHome(ctx, s.Target, bcommon.FileMode(state), transfer.FromImage(src), bar.Update)
	bar.Close()
	if err != nil {
		return bcommon.Halt(state, fmt.Errorf("copy source to working copy: %w", err))
	}
	ui.Message(st.String())
	s.ok = true
	if s.Disk == 0 {
		state.Put(bcommon.StateWorkingImage, s.Target)
	}
	return multistep.ActionContinue
}

func (s *StepCopySource) Cleanup(state multistep.StateBag) {}

// field names the source in errors: source_path, or source_paths[N] for a disk of several.
func (s *StepCopySource) field() string {
	if s.Disk > 0 {
		return fmt.Sprintf("source_paths[%d]", s.Disk)
	}
	return "source_path"
}
