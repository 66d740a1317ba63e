package provenance

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// CleanNoteSuffix is added to a working copy's path to name the clean note: what the
// chromogenic-clean provisioner did to the tree mounted from it, for the builder to fold into
// the record. The provisioner runs in another plugin process than the builder; the file is
// the channel between them, written on the host next to the working copy (never in the guest).
const CleanNoteSuffix = ".clean-note.json"

// CleanNotePath is the clean note of the working copy at image.
func CleanNotePath(image string) string { return image + CleanNoteSuffix }

// Bounds of a clean note: a handful of runs of a few dozen operations each.
const (
	maxNote        = 1 << 20
	maxNoteRuns    = 64
	maxOperations  = 1024
	maxOpNameBytes = 128
)

// CleanRun is one run of chromogenic-clean (or its target conversion): the operations it
// ran and the SHA-256 of the JSON report it wrote.
type CleanRun struct {
	Operations   []string `json:"operations"`
	ReportSHA256 string   `json:"report_sha256"`
	Report       string   `json:"report,omitempty"` // where the report was written
}

func (c *CleanRun) check() error {
	if len(c.Operations) > maxOperations {
		return fmt.Errorf("%d operations, at most %d", len(c.Operations), maxOperations)
	}
	for _, op := range c.Operations {
		if op == "" || len(op) > maxOpNameBytes || strings.Trim(op, "abcdefghijklmnopqrstuvwxyz0123456789-_:.+=") != "" {
			return fmt.Errorf("operation %.140q", op)
		}
	}
	if len(c.ReportSHA256) != 64 || !isHex(c.ReportSHA256) {
		return fmt.Errorf("report digest %.70q", c.ReportSHA256)
	}
	if len(c.Report) > 4096 {
		return fmt.Errorf("report path longer than 4096 bytes")
	}
	return nil
}

// AppendCleanNote adds run to the note at path (created with mode 0600 if absent).
func AppendCleanNote(path string, run CleanRun) error {
	if err := run.check(); err != nil {
		return fmt.Errorf("clean note %s: %w", path, err)
	}
	runs, err := ReadCleanNote(path)
	if err != nil {
		return err
	}
	if len(runs) >= maxNoteRuns {
		return fmt.Errorf("clean note %s: already %d runs", path, len(runs))
	}
	b, err := json.Marshal(append(runs, run))
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|noFollow, 0o600)
	if err != nil {
		return fmt.Errorf("clean note: %w", err)
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("clean note %s: %w", path, err)
	}
	return nil
}

// ReadCleanNote reads the note at path: nothing (and no error) when there is none. It opens
// only a regular file (never through a symlink), reads at most 1 MiB and checks every run.
func ReadCleanNote(path string) ([]CleanRun, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|noFollow, 0)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("clean note: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("clean note %s: not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxNote+1))
	if err != nil {
		return nil, fmt.Errorf("clean note %s: %w", path, err)
	}
	if len(b) > maxNote {
		return nil, fmt.Errorf("clean note %s: larger than %d bytes", path, maxNote)
	}
	var runs []CleanRun
	if err := json.Unmarshal(b, &runs); err != nil {
		return nil, fmt.Errorf("clean note %s: %w", path, err)
	}
	if len(runs) > maxNoteRuns {
		return nil, fmt.Errorf("clean note %s: %d runs, at most %d", path, len(runs), maxNoteRuns)
	}
	for i := range runs {
		if err := runs[i].check(); err != nil {
			return nil, fmt.Errorf("clean note %s: run %d: %w", path, i+1, err)
		}
	}
	return runs, nil
}

// CleanOf is the record's Clean of runs: every operation once, in the order first run, the
// last run's report digest as ReportSHA256 and every run in Runs. Nil for no run.
func CleanOf(runs []CleanRun) *Clean {
	var r Record
	r.AddCleanRuns(runs...)
	return r.Clean
}

// AddCleanRuns adds runs to the record's Clean: the operations it had first, then those of
// runs not yet in it; ReportSHA256 the last run's; Runs those it had and runs.
func (r *Record) AddCleanRuns(runs ...CleanRun) {
	if len(runs) == 0 {
		return
	}
	c := &Clean{Operations: []string{}}
	if r.Clean != nil {
		c.Operations = append(c.Operations, r.Clean.Operations...)
		c.Runs = append(c.Runs, r.Clean.Runs...)
	}
	seen := map[string]bool{}
	for _, op := range c.Operations {
		seen[op] = true
	}
	for _, run := range runs {
		for _, op := range run.Operations {
			if !seen[op] {
				seen[op] = true
				c.Operations = append(c.Operations, op)
			}
		}
		c.ReportSHA256 = run.ReportSHA256
	}
	c.Runs = append(c.Runs, runs...)
	r.Clean = c
}

// FoldCleanNote adds the runs of the clean note beside the working copy image (read bounded,
// ReadCleanNote) to the record (AddCleanRuns) and returns the note's path, for the caller to
// remove once the record is written.
func (r *Record) FoldCleanNote(image string) (string, error) {
	note := CleanNotePath(image)
	runs, err := ReadCleanNote(note)
	if err != nil {
		return "", err
	}
	r.AddCleanRuns(runs...)
	return note, nil
}
