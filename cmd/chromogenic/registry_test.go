package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage/testformat"
)

// TestRegistryToyFormat: a format declared only in its own file (testformat, linked into
// this test alone) is an output format, an input detected by content, listed by help and
// streamable to stdout, with no line of the CLI naming it. In process: the built binary
// does not link the toy.
func TestRegistryToyFormat(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	raw := filepath.Join(dir, "in.raw")
	makeRaw(t, raw, 8<<20)
	runOK := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if err := run(ctx, args, &stdout, &stderr); err != nil {
			t.Fatalf("chromogenic %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return stdout.String()
	}
	if out := runOK("help"); !strings.Contains(out, testformat.Name) {
		t.Errorf("help does not list %s:\n%s", testformat.Name, out)
	}
	toy := filepath.Join(dir, "out"+testformat.Ext)
	runOK("convert", raw, toy, "-O", testformat.Alias)
	var ii imageInfo
	if err := json.Unmarshal([]byte(runOK("info", toy, "--json")), &ii); err != nil {
		t.Fatal(err)
	}
	if ii.Format != testformat.Name || ii.VirtualSize != 8<<20 {
		t.Fatalf("info: format %s, size %d", ii.Format, ii.VirtualSize)
	}
	streamed := runOK("convert", raw, "-", "-O", testformat.Name)
	if b, err := os.ReadFile(toy); err != nil || string(b) != streamed {
		t.Errorf("the stream differs from the file (%v)", err)
	}
	back := filepath.Join(dir, "back.raw")
	runOK("convert", toy, back, "-O", "raw")
	a, _ := os.ReadFile(raw)
	b, _ := os.ReadFile(back)
	if !bytes.Equal(a, b) {
		t.Error("raw -> testfmt -> raw changed the disk")
	}
}
