package common

import (
	"os"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/hostfile"
)

// ArtifactFiles are files a step writes next to the working copy for the artifact to carry,
// such as the external kernel and ramdisk of an image. A successful build hands them to the
// artifact, whose Destroy removes them; after a failed or interrupted build, Cleanup removes
// them. The builders' StepExternalKernel steps share it.
type ArtifactFiles struct {
	Mode  os.FileMode // of the files written; 0 is hostfile.DefaultFileMode (0600)
	paths []string
}

// Write creates path (replacing it), has fill write it, then syncs and closes it. The file is
// tracked from its creation on, so that Cleanup also removes one left half written. The file
// gets exactly a.Mode.
func (a *ArtifactFiles) Write(path string, fill func(f *os.File) error) error {
	mode := a.Mode
	if mode == 0 {
		mode = hostfile.DefaultFileMode
	}
	f, err := hostfile.Create(path, mode)
	if err != nil {
		return err
	}
	a.paths = append(a.paths, path)
	err = fill(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Cleanup removes the files when the build is ending in error or was interrupted.
func (a *ArtifactFiles) Cleanup(state multistep.StateBag) {
	if !Failed(state) {
		return
	}
	for _, p := range a.paths {
		os.Remove(p)
	}
}

// Failed tells whether the build is ending in error or was interrupted.
func Failed(state multistep.StateBag) bool {
	_, e := state.GetOk("error")
	_, c := state.GetOk(multistep.StateCancelled)
	_, h := state.GetOk(multistep.StateHalted)
	return e || c || h
}
