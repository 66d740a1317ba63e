package common

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

// Files written for the artifact stay after a successful build and are removed after a
// failed or interrupted one, including a file whose writing failed halfway.
func TestArtifactFiles(t *testing.T) {
	for _, c := range []struct {
		name  string
		state func(multistep.StateBag)
		kept  bool
	}{
		{"success", func(multistep.StateBag) {}, true},
		{"error", func(s multistep.StateBag) { s.Put("error", errors.New("boom")) }, false},
		{"cancelled", func(s multistep.StateBag) { s.Put(multistep.StateCancelled, true) }, false},
		{"halted", func(s multistep.StateBag) { s.Put(multistep.StateHalted, true) }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			var a ArtifactFiles
			good, half := filepath.Join(dir, "x.kernel"), filepath.Join(dir, "x.ramdisk")
			if err := a.Write(good, func(f *os.File) error { _, err := f.WriteString("kernel"); return err }); err != nil {
				t.Fatal(err)
			}
			fail := errors.New("connection reset")
			if err := a.Write(half, func(f *os.File) error { f.WriteString("par"); return fail }); !errors.Is(err, fail) {
				t.Fatalf("Write = %v, want the fill error", err)
			}
			if b, err := os.ReadFile(good); err != nil || string(b) != "kernel" {
				t.Fatalf("%s = %q, %v", good, b, err)
			}
			state := new(multistep.BasicStateBag)
			c.state(state)
			a.Cleanup(state)
			for _, p := range []string{good, half} {
				_, err := os.Stat(p)
				if c.kept && err != nil {
					t.Errorf("%s removed after a successful build: %v", p, err)
				}
				if !c.kept && !os.IsNotExist(err) {
					t.Errorf("%s left after a failed build: %v", p, err)
				}
			}
		})
	}
}
