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
)

// TestDescriptorVMDKSource: source_path may be a VMDK descriptor (monolithicFlat made by
// qemu-img): Prepare accepts it and StepCopySource makes the working copy from its extent,
// the same bytes; a descriptor naming a file outside its directory is refused in Prepare,
// naming source_path and the line.
func TestDescriptorVMDKSource(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Fatal("qemu-img missing (apt-get install qemu-utils)")
	}
	dir := t.TempDir()
	raw := filepath.Join(dir, "src.raw")
	data := bytes.Repeat([]byte("chromogenic descriptor source\n"), 40000)
	if err := os.WriteFile(raw, data, 0o644); err != nil {
		t.Fatal(err)
	}
	desc := filepath.Join(dir, "vm.vmdk")
	if out, err := exec.Command("qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=monolithicFlat", raw, desc).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v %s", err, out)
	}
	if err := prepare(t, map[string]interface{}{"source_path": desc}); err != nil {
		t.Fatalf("monolithicFlat source refused: %v", err)
	}
	target := filepath.Join(dir, "work.raw")
	state := new(multistep.BasicStateBag)
	state.Put("ui", &packersdk.BasicUi{Reader: strings.NewReader(""), Writer: new(bytes.Buffer), ErrorWriter: new(bytes.Buffer), PB: &packersdk.NoopProgressTracker{}})
	step := &StepCopySource{Source: desc, Target: target}
	if a := step.Run(context.Background(), state); a != multistep.ActionContinue {
		t.Fatalf("StepCopySource: %v", state.Get("error"))
	}
	got, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	want := append(data, make([]byte, len(got)-len(data))...) // qemu-img rounds up to a sector
	if len(got) < len(data) || !bytes.Equal(got, want) {
		t.Errorf("working copy (%d bytes) differs from the source (%d)", len(got), len(data))
	}
	hostile := filepath.Join(t.TempDir(), "h.vmdk")
	os.WriteFile(hostile, []byte("# Disk DescriptorFile\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\nRW 8 FLAT \"../"+filepath.Base(dir)+"/src.raw\" 0\n"), 0o644)
	if err := prepare(t, map[string]interface{}{"source_path": hostile}); err == nil || !strings.Contains(err.Error(), "source_path") || !strings.Contains(err.Error(), "line 4") {
		t.Errorf("descriptor naming a file outside its directory: %v", err)
	}
}
