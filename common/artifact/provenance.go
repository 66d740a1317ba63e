package artifact

import (
	"fmt"
	"os"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
)

// Provenance state keys and HCP Packer labels: every chromogenic artifact that wrote a
// provenance record (internal/provenance, the sidecar <file>.provenance.json) names it.
const (
	StateProvenance       = "provenance"        // string: path of the artifact's provenance record
	StateProvenanceSHA256 = "provenance_sha256" // string: SHA-256 of that file
	StateProvenanceInfo   = "provenance_info"   // string: the record's Summary

	// BuildProvenance is the builder state (multistep) key of the Provenance the build wrote
	// (builder/common's StepProvenance); New takes it into the artifact.
	BuildProvenance = "chromogenic_provenance"

	LabelProvenance       = "provenance"        // the record's path on the build host
	LabelProvenanceSHA256 = "provenance_sha256" // its SHA-256
)

// Provenance is the provenance record an artifact carries: where it is, its SHA-256 and its
// summary. The zero value is no record.
type Provenance struct {
	Path, SHA256, Summary string
}

// WriteProvenance writes r at path with mode (0: provenance.Record.Write's 0644) and returns
// what the artifact carries.
func WriteProvenance(r *provenance.Record, path string, mode os.FileMode) (Provenance, error) {
	if err := r.Write(path); err != nil {
		return Provenance{}, err
	}
	if mode != 0 {
		if err := os.Chmod(path, mode); err != nil {
			return Provenance{}, fmt.Errorf("provenance %s: %w", path, err)
		}
	}
	sum, _, err := provenance.FileSHA256(path)
	if err != nil {
		return Provenance{}, fmt.Errorf("provenance %s: %w", path, err)
	}
	return Provenance{Path: path, SHA256: sum, Summary: r.Summary()}, nil
}

// Put sets the provenance state keys in state (nothing for no record).
func (p Provenance) Put(state map[string]interface{}) {
	if p.Path == "" {
		return
	}
	state[StateProvenance], state[StateProvenanceSHA256], state[StateProvenanceInfo] = p.Path, p.SHA256, p.Summary
}

// Labels adds the provenance labels to the registry labels l (made if nil) and returns them.
func (p Provenance) Labels(l map[string]string) map[string]string {
	if l == nil {
		l = map[string]string{}
	}
	if p.Path != "" {
		l[LabelProvenance], l[LabelProvenanceSHA256] = p.Path, p.SHA256
	}
	return l
}

// ProvenanceOf reads the record an artifact names (its provenance state) and checks the
// file against the SHA-256 the artifact gives: nil, "" and no error when it names none.
func ProvenanceOf(a packersdk.Artifact) (*provenance.Record, Provenance, error) {
	path, _ := a.State(StateProvenance).(string)
	if path == "" {
		return nil, Provenance{}, nil
	}
	want, _ := a.State(StateProvenanceSHA256).(string)
	sum, _, err := provenance.FileSHA256(path)
	if err != nil {
		return nil, Provenance{}, fmt.Errorf("provenance of the %s artifact: %w", a.BuilderId(), err)
	}
	if want != "" && sum != want {
		return nil, Provenance{}, fmt.Errorf("provenance of the %s artifact: %s has SHA-256 %s, the artifact says %s", a.BuilderId(), path, sum, want)
	}
	r, err := provenance.Read(path)
	if err != nil {
		return nil, Provenance{}, err
	}
	return r, Provenance{Path: path, SHA256: sum}, nil
}
