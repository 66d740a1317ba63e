package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
)

// info --provenance prints the record of an image (summary, or the JSON with --json) and
// --verify checks outputs and block maps against the files, failing on a changed one.
func TestInfoProvenance(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	img := filepath.Join(dir, "w.raw")
	os.WriteFile(img, bytes.Repeat([]byte("x"), 3*provenance.BlockSize/2), 0o600)
	m, err := provenance.Map(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	r := provenance.New("chromogenic-local")
	r.Source = provenance.Source{Cloud: "local", Path: "/src.qcow2"}
	r.WorkingCopy = m
	out, _ := provenance.FileOutput(img, "raw", 0)
	r.Outputs = []provenance.Output{out}
	if err := r.Write(provenance.SidecarPath(img)); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := run(ctx, []string{"info", "--provenance", img, "--verify"}, &b, &b); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if s := b.String(); !strings.Contains(s, "producer: chromogenic-local") || !strings.Contains(s, "/src.qcow2") || strings.Count(s, ": ok") != 2 {
		t.Errorf("output:\n%s", s)
	}
	b.Reset()
	if err := run(ctx, []string{"info", "--json", "--provenance", provenance.SidecarPath(img)}, &b, &b); err != nil {
		t.Fatal(err)
	}
	var back provenance.Record
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back.WorkingCopy.Blocks[1] != m.Blocks[1] {
		t.Errorf("--json: %v\n%s", err, b.String())
	}
	f, _ := os.OpenFile(img, os.O_WRONLY, 0)
	f.WriteAt([]byte("y"), provenance.BlockSize+1)
	f.Close()
	b.Reset()
	err = run(ctx, []string{"info", "--provenance", "--verify", img}, &b, &b)
	if err == nil || !strings.Contains(err.Error(), "block 1 ") || !strings.Contains(b.String(), "FAILED") {
		t.Errorf("changed image: %v\n%s", err, b.String())
	}
}
