package common

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
)

// fsck defaults to skip; check and repair are taken; anything else is refused naming the field.
func TestFsckConfig(t *testing.T) {
	for in, want := range map[string]chroot.FsckMode{"": chroot.FsckSkip, "skip": chroot.FsckSkip, "check": chroot.FsckCheck, "repair": chroot.FsckRepair} {
		c := ChrootConfig{Fsck: in}
		if errs := c.Prepare(&interpolate.Context{}); len(errs) > 0 {
			t.Errorf("fsck = %q: %v", in, errs)
		}
		if c.FsckMode() != want {
			t.Errorf("fsck = %q: mode %q, want %q", in, c.FsckMode(), want)
		}
	}
	c := ChrootConfig{Fsck: "yes"}
	errs := c.Prepare(&interpolate.Context{})
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `fsck: "yes" is not one of skip, check, repair`) {
		t.Errorf("fsck = yes: %v", errs)
	}
}

// The open-image step checks the working copy with the configured fsck: a root whose inode
// bitmap is damaged halts the build with fsck = "check", naming the partition, and nothing
// stays attached; fsck = "repair" repairs it and the build goes on.
func TestStepOpenImageFsck(t *testing.T) {
	dir := t.TempDir()
	image := testimages.Make(t, "mbr-boot", dir)
	d, err := chroot.Attach(image, false)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("debugfs", "-w", "-R", "freei /etc/hostname", d.Partition(2).Device).CombinedOutput()
	if derr := d.Detach(); derr != nil {
		t.Fatal(derr)
	}
	if err != nil || bytes.Contains(out, []byte("not found")) {
		t.Fatalf("debugfs freei: %v\n%s", err, out)
	}
	for _, mode := range []string{"check", "repair"} {
		c := &ChrootConfig{Fsck: mode, MountPath: filepath.Join(dir, "mnt-"+mode)}
		if errs := c.Prepare(&interpolate.Context{}); len(errs) > 0 {
			t.Fatal(errs)
		}
		state := new(multistep.BasicStateBag)
		var ui bytes.Buffer
		state.Put("ui", &packersdk.BasicUi{Writer: &ui, ErrorWriter: &ui})
		state.Put(StateWorkingImage, image)
		step := &StepOpenImage{Config: c}
		action := step.Run(context.Background(), state)
		step.Cleanup(state)
		if l := chroot.LoopsBackedBy(image); len(l) > 0 {
			t.Errorf("fsck %s: loops left: %v", mode, l)
		}
		if m := chroot.MountedUnder(c.MountPath); len(m) > 0 {
			t.Errorf("fsck %s: mounts left: %v", mode, m)
		}
		err, _ := state.Get("error").(error)
		switch mode {
		case "check":
			if action != multistep.ActionHalt || err == nil || !strings.Contains(err.Error(), "e2fsck -f -n found partition 2 (ext4") {
				t.Errorf("fsck check of a damaged root: %v, %v; want a halt naming partition 2\n%s", action, err, ui.String())
			}
		case "repair":
			if action != multistep.ActionContinue || err != nil {
				t.Errorf("fsck repair: %v, %v\n%s", action, err, ui.String())
			}
		}
	}
}
