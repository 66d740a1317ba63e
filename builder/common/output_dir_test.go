package common

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"
)

func permOf(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// The output directory, the working copy and the external kernel files are private by
// default (0700, 0600) under the usual umask 022, and get group read with file_mode "0640".
func TestOutputDirAndFileModes(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	for _, tc := range []struct {
		fileMode      string
		file, dirMode os.FileMode
	}{{"", 0o600, 0o700}, {"0640", 0o640, 0o750}} {
		var c ChrootConfig
		c.FileMode = tc.fileMode
		if errs := c.Prepare(&interpolate.Context{}); len(errs) > 0 {
			t.Fatal(errs)
		}
		out := filepath.Join(t.TempDir(), "output-x")
		state := new(multistep.BasicStateBag)
		state.Put("ui", packersdk.TestUi(t))
		step := &StepOutputDir{Path: out, FileMode: c.HostFileMode()}
		if a := step.Run(context.Background(), state); a != multistep.ActionContinue {
			t.Fatalf("StepOutputDir: %v", state.Get("error"))
		}
		if m := permOf(t, out); m != tc.dirMode {
			t.Errorf("file_mode %q: output directory mode %o, want %o", tc.fileMode, m, tc.dirMode)
		}
		work := filepath.Join(out, "x.raw")
		f, err := CreateFile(state, work)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		var a ArtifactFiles
		a.Mode = FileMode(state)
		kernel := work + ".kernel"
		if err := a.Write(kernel, func(f *os.File) error { _, err := f.WriteString("k"); return err }); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{work, kernel} {
			if m := permOf(t, p); m != tc.file {
				t.Errorf("file_mode %q: %s mode %o, want %o", tc.fileMode, filepath.Base(p), m, tc.file)
			}
		}
		// Without -force an existing directory stops the build.
		step2 := &StepOutputDir{Path: out}
		if a := step2.Run(context.Background(), state); a != multistep.ActionHalt {
			t.Errorf("existing output directory accepted without force")
		}
	}
}

// ArtifactFiles without a mode (a step that never saw the state) still writes 0600.
func TestArtifactFilesDefaultMode(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	p := filepath.Join(t.TempDir(), "x.ramdisk")
	var a ArtifactFiles
	if err := a.Write(p, func(*os.File) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if m := permOf(t, p); m != 0o600 {
		t.Errorf("ramdisk mode %o, want 0600", m)
	}
}

func TestFileModeErrorNamesField(t *testing.T) {
	for _, bad := range []string{"0755", "0444", "u+rw", "10600"} {
		c := ChrootConfig{FileMode: bad}
		errs := c.Prepare(&interpolate.Context{})
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), "file_mode") {
			t.Errorf("file_mode %q: %v, want one error naming file_mode", bad, errs)
		}
	}
}

// mount_options = ["noatime"] keeps nosuid,nodev; an explicit suid drops only nosuid.
func TestMountOptionsKeepNosuidNodev(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{nil, []string{"nosuid", "nodev"}},
		{[]string{"noatime"}, []string{"nosuid", "nodev", "noatime"}},
		{[]string{"suid"}, []string{"nodev", "suid"}},
	} {
		c := ChrootConfig{MountOptions: tc.in}
		if errs := c.Prepare(&interpolate.Context{}); len(errs) > 0 {
			t.Fatal(errs)
		}
		if strings.Join(c.MountOptions, ",") != strings.Join(tc.want, ",") {
			t.Errorf("mount_options %q became %q, want %q", tc.in, c.MountOptions, tc.want)
		}
	}
}
