package provenance

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Notes accumulate runs, are refused past their bounds, and fold into Clean; From carries an
// input's record over and Summary names what matters.
func TestCleanNoteAndFrom(t *testing.T) {
	note := CleanNotePath(filepath.Join(t.TempDir(), "w.raw"))
	d := strings.Repeat("ab", 32)
	if runs, err := ReadCleanNote(note); err != nil || runs != nil {
		t.Fatalf("no note: %v %v", runs, err)
	}
	for _, ops := range [][]string{{"a", "b"}, {"b", "target:kvm"}} {
		if err := AppendCleanNote(note, CleanRun{Operations: ops, ReportSHA256: d}); err != nil {
			t.Fatal(err)
		}
	}
	if err := AppendCleanNote(note, CleanRun{Operations: []string{"a b"}, ReportSHA256: d}); err == nil {
		t.Error("an operation with a space was noted")
	}
	runs, err := ReadCleanNote(note)
	c := CleanOf(runs)
	if err != nil || strings.Join(c.Operations, ",") != "a,b,target:kvm" || len(c.Runs) != 2 || c.ReportSHA256 != d {
		t.Errorf("clean %+v %v", c, err)
	}
	many := make([]CleanRun, maxNoteRuns+1)
	for i := range many {
		many[i] = CleanRun{Operations: []string{"a"}, ReportSHA256: d}
	}
	b, _ := jsonMarshal(many)
	os.WriteFile(note, b, 0o600)
	if _, err := ReadCleanNote(note); err == nil || !strings.Contains(err.Error(), note) {
		t.Errorf("%d runs: %v", len(many), err)
	}

	in := New("chromogenic-local")
	in.Source = Source{Cloud: "local", Path: "/src.qcow2"}
	in.Clean = c
	in.WorkingCopy = &BlockMap{Path: "/w.raw", Size: BlockSize, BlockSize: BlockSize, Blocks: []string{d}}
	in.Outputs = []Output{{Cloud: "openstack", ID: "x"}}
	r := From("chromogenic-convert", in, "/w.raw.provenance.json", d)
	if r.Source.Path != in.Source.Path || r.Clean != c || r.WorkingCopy != in.WorkingCopy || len(r.Outputs) != 0 || r.Input != "/w.raw.provenance.json" || r.InputSHA256 != d {
		t.Errorf("from %+v", r)
	}
	r.Outputs = []Output{{Path: "/o.qcow2", Format: "qcow2", Size: 9, SHA256: d}}
	s := r.Summary()
	for _, want := range []string{"chromogenic-convert", "/src.qcow2", "1 with data", "target:kvm", "/o.qcow2 (qcow2, 9 bytes", "input: /w.raw.provenance.json"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
