package common

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/hostfile"
)

// StateFileMode is the state key of the os.FileMode host files of the build are created with.
const StateFileMode = "chromogenic_file_mode"

// StepOutputDir is the SDK's StepOutputDir with private modes: it creates the output
// directory (deleting an existing one only with -force) with DirMode, and records FileMode
// in the state for the steps that write into it (see CreateFile). A cancelled or halted build
// removes the directory again.
type StepOutputDir struct {
	Force    bool
	Path     string
	FileMode os.FileMode // 0: hostfile.DefaultFileMode
	DirMode  os.FileMode // 0: hostfile.DirMode(FileMode)

	cleanup bool
}

func (s *StepOutputDir) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	fm := s.FileMode
	if fm == 0 {
		fm = hostfile.DefaultFileMode
	}
	dm := s.DirMode
	if dm == 0 {
		dm = hostfile.DirMode(fm)
	}
	state.Put(StateFileMode, fm)
	if _, err := os.Lstat(s.Path); err == nil {
		if !s.Force {
			return Halt(state, fmt.Errorf("output directory exists: %s\n\nUse the force flag to delete it prior to building.", s.Path))
		}
		ui.Say("Deleting previous output directory...")
		if err := os.RemoveAll(s.Path); err != nil {
			return Halt(state, err)
		}
	}
	s.cleanup = true
	if _, err := hostfile.MkdirAll(s.Path, dm); err != nil {
		return Halt(state, fmt.Errorf("output_directory: %w", err))
	}
	return multistep.ActionContinue
}

func (s *StepOutputDir) Cleanup(state multistep.StateBag) {
	if !s.cleanup {
		return
	}
	_, cancelled := state.GetOk(multistep.StateCancelled)
	_, halted := state.GetOk(multistep.StateHalted)
	if cancelled || halted {
		state.Get("ui").(packersdk.Ui).Say("Deleting output directory...")
		for i := 0; i < 5; i++ {
			err := os.RemoveAll(s.Path)
			if err == nil {
				break
			}
			log.Printf("Error removing output dir: %s", err)
			time.Sleep(2 * time.Second)
		}
	}
}

// FileMode is the mode StepOutputDir recorded for the build's host files, or
// hostfile.DefaultFileMode.
func FileMode(state multistep.StateBag) os.FileMode {
	if m, ok := state.GetOk(StateFileMode); ok {
		if fm, ok := m.(os.FileMode); ok && fm != 0 {
			return fm
		}
	}
	return hostfile.DefaultFileMode
}

// CreateFile creates (or truncates) a host file of the build, such as the working copy, with
// exactly the build's file mode (0600 unless file_mode says otherwise).
func CreateFile(state multistep.StateBag, path string) (*os.File, error) {
	return hostfile.Create(path, FileMode(state))
}
