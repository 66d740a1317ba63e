package local

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func prepare(t *testing.T, raw map[string]interface{}) error {
	t.Helper()
	var c Config
	_, err := c.Prepare(raw)
	return err
}

func qcow2Image(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "src.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", p, "64M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v %s", err, out)
	}
	return p
}

func TestPrepareValid(t *testing.T) {
	src := qcow2Image(t)
	var c Config
	if _, err := c.Prepare(map[string]interface{}{"source_path": src, "packer_build_name": "demo"}); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	if c.OutputDir != "output-demo" || c.ImageName != "demo.raw" {
		t.Errorf("defaults: output_directory=%q image_name=%q", c.OutputDir, c.ImageName)
	}
	// The sandbox (the default) brings its own /proc and /dev: nothing of the host's is mounted.
	if c.MountPath != "/mnt/chromogenic/{{.Device}}" || len(c.ChrootMounts) != 0 || len(c.CopyFiles) != 1 {
		t.Errorf("chroot defaults: %q %v %v", c.MountPath, c.ChrootMounts, c.CopyFiles)
	}
	var trusting Config
	if _, err := trusting.Prepare(map[string]interface{}{"source_path": src, "sandbox": false}); err != nil {
		t.Fatal(err)
	}
	if len(trusting.ChrootMounts) != 4 {
		t.Errorf("sandbox = false: chroot_mounts %v, want proc, sys, dev, devpts", trusting.ChrootMounts)
	}
	// An explicit empty list means "mount nothing", not the defaults.
	var c2 Config
	if _, err := c2.Prepare(map[string]interface{}{"source_path": src, "sandbox": false, "chroot_mounts": [][]string{}, "copy_files": []string{}}); err != nil {
		t.Fatal(err)
	}
	if len(c2.ChrootMounts) != 0 || len(c2.CopyFiles) != 0 {
		t.Errorf("explicit empty lists replaced by defaults: %v %v", c2.ChrootMounts, c2.CopyFiles)
	}
}

// Bad input fails in Prepare with a message naming the field.
func TestPrepareErrorsNameTheField(t *testing.T) {
	src := qcow2Image(t)
	// Tests run as root, which reads mode-0 files: a dangling link is unreadable for everyone.
	dangling := filepath.Join(t.TempDir(), "dangling.raw")
	os.Symlink("/nonexistent/target.raw", dangling)

	cases := []struct {
		name  string
		raw   map[string]interface{}
		field string
	}{
		{"missing source", map[string]interface{}{}, "source_path is required"},
		{"nonexistent source", map[string]interface{}{"source_path": "/nonexistent/disk.qcow2"}, "source_path"},
		{"dangling source", map[string]interface{}{"source_path": dangling}, "source_path"},
		{"directory source", map[string]interface{}{"source_path": t.TempDir()}, "source_path"},
		{"unknown format", map[string]interface{}{"source_path": src, "source_format": "floppy"}, "source_format"},
		{"image_name path", map[string]interface{}{"source_path": src, "image_name": "../x.raw"}, "image_name"},
		{"negative root_partition", map[string]interface{}{"source_path": src, "root_partition": -1}, "root_partition"},
		{"bad chroot_mounts", map[string]interface{}{"source_path": src, "chroot_mounts": [][]string{{"proc", "/proc"}}}, "chroot_mounts"},
		{"relative chroot mount", map[string]interface{}{"source_path": src, "chroot_mounts": [][]string{{"proc", "proc", "proc"}}}, "chroot_mounts"},
		{"escaping chroot mount", map[string]interface{}{"source_path": src, "chroot_mounts": [][]string{{"proc", "proc", "/x/../../etc"}}}, "chroot_mounts"},
		{"relative copy_files", map[string]interface{}{"source_path": src, "copy_files": []string{"etc/resolv.conf"}}, "copy_files"},
		{"fstab_mounts root", map[string]interface{}{"source_path": src, "fstab_mounts": []string{"/"}}, "fstab_mounts"},
		{"bad mount_path template", map[string]interface{}{"source_path": src, "mount_path": "/mnt/{{.Device"}, "mount_path"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := prepare(t, tc.raw)
			if err == nil {
				t.Fatalf("Prepare accepted %v", tc.raw)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error does not name %q: %v", tc.field, err)
			}
		})
	}
}

// A format the engine knows but the content contradicts is refused naming source_path.
func TestPrepareFormatMismatch(t *testing.T) {
	raw := filepath.Join(t.TempDir(), "plain.raw")
	os.WriteFile(raw, make([]byte, 1<<20), 0o644)
	err := prepare(t, map[string]interface{}{"source_path": raw, "source_format": "qcow2"})
	if err == nil || !strings.Contains(err.Error(), "source_path") {
		t.Fatalf("raw file declared qcow2: got %v", err)
	}
}
