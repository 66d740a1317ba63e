package common

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/transfer"
)

// StateCaptureMap is the block map of the working copy as the capture brought it home (a
// *provenance.BlockMap made on the way): StepProvenance records the blocks the build changed
// since (Record.Dirty).
const StateCaptureMap = "capture_block_map"

// ReadBaseProvenance reads a builder's base_provenance record (in Prepare) and checks what an
// update over it needs: a record of one of clouds, with a block map of the working copy in
// provenance.BlockSize blocks, whose file lies outside outputDir (the build creates that
// directory anew, and -force deletes it: the base is read, never overwritten). Every error
// names the field and the record.
func ReadBaseProvenance(record string, clouds []string, outputDir string) (*provenance.Record, []error) {
	r, err := provenance.Read(record)
	if err != nil {
		return nil, []error{fmt.Errorf("base_provenance: %w", err)}
	}
	var errs []error
	switch {
	case !slices.Contains(clouds, r.Source.Cloud):
		errs = append(errs, fmt.Errorf("base_provenance %s: its source cloud is %q, this build captures from %s", record, r.Source.Cloud, strings.Join(clouds, " or ")))
	case r.WorkingCopy == nil || r.WorkingCopy.Path == "":
		errs = append(errs, fmt.Errorf("base_provenance %s: it records no working copy block map", record))
	case r.WorkingCopy.BlockSize != provenance.BlockSize:
		errs = append(errs, fmt.Errorf("base_provenance %s: its block map has %d-byte blocks, want %d", record, r.WorkingCopy.BlockSize, provenance.BlockSize))
	case within(r.WorkingCopy.Path, outputDir):
		errs = append(errs, fmt.Errorf("base_provenance %s: its working copy %s is in this build's output_directory %s, which the build makes anew (the base is read, never overwritten): capture into another output_directory", record, r.WorkingCopy.Path, outputDir))
	}
	return r, errs
}

// within tells whether path is dir or below it (symbolic links resolved where they exist).
func within(path, dir string) bool {
	p, d := resolved(path), resolved(dir)
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func resolved(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	// Resolve the longest existing prefix.
	rest := ""
	for cur := a; ; {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return a
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// SayUpdate tells what bringing the working copy home over a base did: the blocks of the
// image written because they differ from the base (and how many became zeros), the bytes
// written, and how the base was copied and checked; or why the base was not used.
func SayUpdate(ui packersdk.Ui, record string, st transfer.Stats) {
	if st.Fallback != "" {
		ui.Message(fmt.Sprintf("Brought home in full: the base %s was not used (%s)", record, st.Fallback))
		return
	}
	u := st.Update
	if u == nil {
		return
	}
	how := "copied"
	if u.Reflink {
		how = "reflinked"
	}
	check := "not read again (its stamp matches its record: not written since)"
	if !u.Trusted {
		check = fmt.Sprintf("checked against its record in %s (%s)", u.Check.Round(time.Millisecond), u.Untrusted)
	}
	ui.Message(fmt.Sprintf("Updated over the base %s: %d of %d blocks written (%d MiB, %d blocks made zeros), the others kept from the base; base %s in %s and %s",
		record, u.Written, u.Blocks, u.Bytes>>20, u.Zeroed, how, u.Copy.Round(time.Millisecond), check))
}

// AbsPath is p made absolute (p when it cannot be).
func AbsPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
