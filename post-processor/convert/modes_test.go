package convert

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact"
)

type fileArtifact struct{ path string }

func (a fileArtifact) BuilderId() string { return "test" }
func (a fileArtifact) Files() []string   { return []string{a.path} }
func (a fileArtifact) Id() string        { return a.path }
func (a fileArtifact) String() string    { return a.path }
func (a fileArtifact) Destroy() error    { return nil }
func (a fileArtifact) State(name string) interface{} {
	if name == artifact.ImagePath {
		return a.path
	}
	return nil
}

func perm(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// The outputs, checksum files and an output_directory the post-processor creates are private
// (0600, 0700) whatever the umask; file_mode "0640" gives group read (0640, 0750).
func TestOutputModes(t *testing.T) {
	old := syscall.Umask(0o022) // the common umask, which would leave 0644 files
	defer syscall.Umask(old)
	for _, tc := range []struct {
		fileMode      string
		file, dirMode os.FileMode
	}{{"", 0o600, 0o700}, {"0640", 0o640, 0o750}} {
		dir := t.TempDir()
		src := filepath.Join(dir, "in.raw")
		if err := os.WriteFile(src, make([]byte, 1<<20), 0o644); err != nil {
			t.Fatal(err)
		}
		outDir := filepath.Join(dir, "new", "out")
		raw := map[string]interface{}{"formats": []string{"raw", "qcow2", "ova"}, "output_directory": outDir,
			"checksum_types": []string{"sha256"}}
		if tc.fileMode != "" {
			raw["file_mode"] = tc.fileMode
		}
		var p PostProcessor
		if err := p.Configure(raw); err != nil {
			t.Fatal(err)
		}
		ui := packersdk.TestUi(t)
		art, _, _, err := p.PostProcess(context.Background(), ui, fileArtifact{src})
		if err != nil {
			t.Fatal(err)
		}
		files := art.Files()
		if len(files) != 7 { // 3 formats, their checksums, the provenance record
			t.Fatalf("files %v", files)
		}
		for _, f := range files {
			if m := perm(t, f); m != tc.file {
				t.Errorf("file_mode %q: %s has mode %o, want %o", tc.fileMode, filepath.Base(f), m, tc.file)
			}
		}
		for _, d := range []string{outDir, filepath.Dir(outDir)} {
			if m := perm(t, d); m != tc.dirMode {
				t.Errorf("file_mode %q: created directory %s has mode %o, want %o", tc.fileMode, d, m, tc.dirMode)
			}
		}
	}
}

func TestFileModeValidated(t *testing.T) {
	for _, bad := range []string{"0755", "0400", "640x", "01600"} {
		var p PostProcessor
		err := p.Configure(map[string]interface{}{"formats": []string{"raw"}, "file_mode": bad})
		if err == nil || !strings.Contains(err.Error(), "file_mode") {
			t.Errorf("file_mode %q: %v, want an error naming file_mode", bad, err)
		}
	}
}
