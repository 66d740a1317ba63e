//go:build linux

package clean

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
)

// A run is noted beside the working copy only for the builder's own mounted tree, and not for
// a dry run; the note holds the operations and the report's SHA-256 and accumulates runs.
func TestCleanNote(t *testing.T) {
	dir := t.TempDir()
	wi := filepath.Join(dir, "w.raw")
	gen := map[string]interface{}{"WorkingImage": wi, "MountPath": dir + "/mnt/"}
	for name, c := range map[string]struct {
		gen    map[string]interface{}
		root   string
		dryRun bool
		want   string
	}{
		"builder's tree": {gen, dir + "/mnt", false, provenance.CleanNotePath(wi)},
		"dry run":        {gen, dir + "/mnt", true, ""},
		"other root":     {gen, "/srv/tree", false, ""},
		"no builder":     {map[string]interface{}{}, "/srv/tree", false, ""},
		"unset variable": {map[string]interface{}{"WorkingImage": "ERR_WorkingImage", "MountPath": "/m"}, "/m", false, ""},
	} {
		if got := cleanNote(c.gen, c.root, c.dryRun); got != c.want {
			t.Errorf("%s: note %q, want %q", name, got, c.want)
		}
	}
	note := provenance.CleanNotePath(wi)
	for _, js := range []string{`{"a":1}`, `{"b":2}`} {
		if err := writeNote(note, []string{"machine-id"}, []byte(js), "r.json"); err != nil {
			t.Fatal(err)
		}
	}
	runs, err := provenance.ReadCleanNote(note)
	sum := sha256.Sum256([]byte(`{"b":2}`))
	if err != nil || len(runs) != 2 || runs[1].ReportSHA256 != hex.EncodeToString(sum[:]) || runs[1].Operations[0] != "machine-id" || !filepath.IsAbs(runs[1].Report) {
		t.Errorf("note %+v %v", runs, err)
	}
}
