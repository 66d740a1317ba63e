package local

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
)

// TestStepCopySourceFormats: a source in any format the engine reads, detected from its
// content, becomes a raw working copy with the guest's bytes (qemu-img made the source
// and is the oracle), and source_path is checked in Prepare.
func TestStepCopySourceFormats(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Fatal("qemu-img missing (apt-get install qemu-utils)")
	}
	dir := t.TempDir()
	raw := filepath.Join(dir, "guest.raw")
	want := make([]byte, 6<<20)
	copy(want[4096:], bytes.Repeat([]byte("guest "), 2000))
	copy(want[5<<20:], "the end of the disk")
	if err := os.WriteFile(raw, want, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ file, qfmt, opts string }{
		{"hyperv.vhdx", "vhdx", "block_size=1M"},
		{"vbox.vdi", "vdi", "static=off"},
		{"legacy.vhd", "vpc", "subformat=dynamic"},
	} {
		t.Run(c.file, func(t *testing.T) {
			src := filepath.Join(dir, c.file)
			if out, err := exec.Command("qemu-img", "convert", "-f", "raw", "-O", c.qfmt, "-o", c.opts, raw, src).CombinedOutput(); err != nil {
				t.Fatalf("qemu-img: %v %s", err, out)
			}
			if err := prepare(t, map[string]interface{}{"source_path": src}); err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			var out bytes.Buffer
			state := new(multistep.BasicStateBag)
			state.Put("ui", &packersdk.BasicUi{Writer: &out, ErrorWriter: &out, PB: &packersdk.NoopProgressTracker{}})
			target := filepath.Join(dir, c.file+".work.raw")
			step := &StepCopySource{Source: src, Target: target}
			if a := step.Run(context.Background(), state); a != multistep.ActionContinue {
				t.Fatalf("Run: %v\n%s", state.Get("error"), out.String())
			}
			if state.Get(bcommon.StateWorkingImage) != target || !strings.Contains(out.String(), "("+strings.TrimPrefix(filepath.Ext(c.file), ".")) {
				t.Errorf("state %v, output %s", state.Get(bcommon.StateWorkingImage), out.String())
			}
			got, err := os.ReadFile(target)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) < len(want) || !bytes.Equal(got[:len(want)], want) || strings.Trim(string(got[len(want):]), "\x00") != "" {
				t.Errorf("working copy of %s differs from the guest bytes (%d bytes, want %d)", c.file, len(got), len(want))
			}
		})
	}
}
