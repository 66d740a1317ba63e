package artifact

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
)

// stateArtifact answers State from a map, as an artifact seen through Packer's RPC does
// (a []string comes back as []interface{}).
type stateArtifact struct {
	*Artifact
	state map[string]interface{}
}

func (a stateArtifact) State(name string) interface{} { return a.state[name] }

// A local artifact of two disks: Files lists both, image_paths names both (boot disk first,
// also as []interface{}), the imports' note names the other disk, and Destroy removes both.
func TestArtifactSeveralDisks(t *testing.T) {
	dir := t.TempDir()
	disks := []string{filepath.Join(dir, "a.raw"), filepath.Join(dir, "a-disk2.raw")}
	for _, d := range disks {
		os.WriteFile(d, []byte("disk"), 0o600)
	}
	a := New("chromogenic.local", disks[0], new(multistep.BasicStateBag))
	if OtherDisksNote(a) != "" {
		t.Errorf("one disk: note %q", OtherDisksNote(a))
	}
	a.AddDisks(disks[1])
	if got := a.Files(); strings.Join(got, " ") != strings.Join(disks, " ") {
		t.Errorf("files %v", got)
	}
	paths, format, err := LocalImages(a)
	if err != nil || format != "raw" || strings.Join(paths, " ") != strings.Join(disks, " ") {
		t.Errorf("LocalImages: %v %s %v", paths, format, err)
	}
	remote := stateArtifact{a, map[string]interface{}{ImagePath: disks[0], ImageFormat: "raw", ImagePaths: []interface{}{disks[0], disks[1]}}}
	if paths, _, _ := LocalImages(remote); len(paths) != 2 || paths[1] != disks[1] {
		t.Errorf("LocalImages through RPC: %v", paths)
	}
	// image_paths that do not start with image_path are not this artifact's disks.
	stale := stateArtifact{a, map[string]interface{}{ImagePath: disks[1], ImagePaths: []interface{}{disks[0], disks[1]}}}
	if paths, _, _ := LocalImages(stale); len(paths) != 1 || paths[0] != disks[1] {
		t.Errorf("LocalImages with image_paths of another first disk: %v", paths)
	}
	if note := OtherDisksNote(a); !strings.Contains(note, "2 disks") || !strings.Contains(note, disks[1]) || !strings.Contains(note, "not pushed yet") {
		t.Errorf("note %q", note)
	}
	if err := a.Destroy(); err != nil {
		t.Fatal(err)
	}
	for _, d := range disks {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s left after Destroy: %v", d, err)
		}
	}
}
