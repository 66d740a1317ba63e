package local

import (
	"path/filepath"
	"strings"
	"testing"
)

// source_paths: each disk checked by name, working copies named per disk, and source_path
// with source_paths refused naming both.
func TestPrepareSourcePaths(t *testing.T) {
	a, b := qcow2Image(t), qcow2Image(t)
	var c Config
	if _, err := c.Prepare(map[string]interface{}{"source_paths": []string{a, b}, "packer_build_name": "demo"}); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	want := []string{filepath.Join("output-demo", "demo.raw"), filepath.Join("output-demo", "demo-disk2.raw")}
	if got := c.workingCopies(); strings.Join(got, " ") != strings.Join(want, " ") || strings.Join(c.sources(), " ") != a+" "+b {
		t.Errorf("working copies %v, want %v; sources %v", got, want, c.sources())
	}
	for _, tc := range []struct {
		raw  map[string]interface{}
		want []string
	}{
		{map[string]interface{}{"source_path": a, "source_paths": []string{a, b}}, []string{"source_path and source_paths are both set"}},
		{map[string]interface{}{"source_paths": []string{a, filepath.Join(t.TempDir(), "missing.raw")}}, []string{"source_paths[1]", "missing.raw"}},
		{map[string]interface{}{"source_paths": []string{a, a}}, []string{"source_paths[1] is source_paths[0] again"}},
		{map[string]interface{}{"source_paths": []string{""}}, []string{"source_paths[0] is empty"}},
		{map[string]interface{}{}, []string{"source_path is required"}},
	} {
		err := prepare(t, tc.raw)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v: %v, want an error with %q", tc.raw, err, w)
			}
		}
	}
}
