package ec2import

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
)

// base_provenance must be a readable record of a push to AWS (an output of kind snapshot)
// with the block map of what was pushed; errors name the field and the file.
func TestPrepareBaseProvenance(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, snap bool) string {
		r := provenance.New(BuilderID)
		r.WorkingCopy = &provenance.BlockMap{Size: provenance.BlockSize, BlockSize: provenance.BlockSize, Blocks: []string{""}}
		if snap {
			r.Outputs = []provenance.Output{{Cloud: "aws", Region: "us-east-1", Kind: "snapshot", ID: "snap-1"}}
		}
		p := filepath.Join(dir, name)
		if err := r.Write(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, nosnap := write("good.json", true), write("nosnap.json", false)
	for path, want := range map[string]string{
		filepath.Join(dir, "missing.json"): "base_provenance: provenance: open",
		nosnap:                             "base_provenance " + nosnap + ": it names no snapshot pushed to AWS",
	} {
		var c Config
		if err := c.Prepare(map[string]interface{}{"ami_name": "imported", "base_provenance": path}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", path, err, want)
		}
	}
	var c Config
	if err := c.Prepare(map[string]interface{}{"ami_name": "imported", "base_provenance": good}); err != nil || c.baseRecord == nil {
		t.Fatalf("good record: %v", err)
	}
	if err := (&Config{}).Prepare(map[string]interface{}{"ami_name": "imported", "base_provenance": good,
		"custom_endpoint_ec2": "http://clc:8773/services/compute", "eucalyptus": map[string]interface{}{"bucket": "b"}}); err == nil ||
		!strings.Contains(err.Error(), "base_provenance: a delta push needs the EBS direct API") {
		t.Errorf("eucalyptus: %v", err)
	}
}
