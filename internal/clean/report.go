//go:build linux

package clean

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"
)

// Action is what happened (or, in a dry run, would happen) to a guest path.
type Action string

// Actions in reports.
const (
	Removed   Action = "removed"   // the name was removed (a directory with its content)
	Truncated Action = "truncated" // a regular file was emptied in place (same inode, owner, mode, xattrs)
	Edited    Action = "edited"    // lines of a file were deleted, replaced or added, in place
	Created   Action = "created"   // a file or directory was created
	Skipped   Action = "skipped"   // a target was left alone on purpose (symlink, special file, hard link, too big...)
	// Copied: a file was copied (Path is the copy; Reason names the original): Env.CopyFile,
	// internal/retarget's initramfs backups.
	Copied Action = "copied"
)

// Change is one entry of the report.
type Change struct {
	Action Action `json:"action"`
	Path   string `json:"path"`
	// Type is the file type before the change: "file", "dir", "symlink", "fifo", "socket",
	// "device".
	Type string `json:"type,omitempty"`
	// Size is the size in bytes before the change (regular files).
	Size int64 `json:"size,omitempty"`
	// Diff lists deleted ("-line") and added ("+line") lines of an edit (password hashes are
	// redacted).
	Diff []string `json:"diff,omitempty"`
	// Reason explains a Skipped entry, or annotates another one.
	Reason string `json:"reason,omitempty"`
}

// OpStatus is the outcome of one op.
type OpStatus string

// Op outcomes.
const (
	StatusDone          OpStatus = "done"
	StatusNotApplicable OpStatus = "not-applicable"
	StatusFailed        OpStatus = "failed"
)

// OpReport is the part of the report for one op.
type OpReport struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Status      OpStatus `json:"status"`
	// Reason says why the op did not apply.
	Reason   string        `json:"reason,omitempty"`
	Changes  []Change      `json:"changes,omitempty"`
	Errors   []string      `json:"errors,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// Totals count the changes of a report.
type Totals struct {
	Removed    int   `json:"removed"`
	Truncated  int   `json:"truncated"`
	Edited     int   `json:"edited"`
	Created    int   `json:"created"`
	Skipped    int   `json:"skipped"`
	Errors     int   `json:"errors"`
	BytesFreed int64 `json:"bytes_freed"`
}

// Report is the result of Run. It marshals to JSON; Summary renders it for humans.
type Report struct {
	Root       string          `json:"root"`
	DryRun     bool            `json:"dry_run"`
	Guest      *guestfs.OSInfo `json:"guest"`
	Operations []string        `json:"operations"`
	Ops        []OpReport      `json:"ops"`
	Totals     Totals          `json:"totals"`
	Started    time.Time       `json:"started"`
	Duration   time.Duration   `json:"duration_ns"`
}

// JSON returns the indented JSON form of the report.
func (r *Report) JSON() ([]byte, error) { return json.MarshalIndent(r, "", "  ") }

// Err returns the op errors of the report joined, or nil.
func (r *Report) Err() error {
	var errs []error
	for _, op := range r.Ops {
		for _, e := range op.Errors {
			errs = append(errs, fmt.Errorf("%s: %s", op.Name, Printable(e)))
		}
	}
	return errors.Join(errs...)
}

// Op returns the report of the named op, or nil.
func (r *Report) Op(name string) *OpReport {
	for i := range r.Ops {
		if r.Ops[i].Name == name {
			return &r.Ops[i]
		}
	}
	return nil
}

// Find returns the changes of any op for guest path p.
func (r *Report) Find(p string) []Change {
	var out []Change
	for _, op := range r.Ops {
		for _, c := range op.Changes {
			if c.Path == p {
				out = append(out, c)
			}
		}
	}
	return out
}

func (r *Report) total() {
	t := Totals{}
	for _, op := range r.Ops {
		t.Errors += len(op.Errors)
		for _, c := range op.Changes {
			switch c.Action {
			case Removed:
				t.Removed++
				t.BytesFreed += c.Size
			case Truncated:
				t.Truncated++
				t.BytesFreed += c.Size
			case Edited:
				t.Edited++
			case Created:
				t.Created++
			case Skipped:
				t.Skipped++
			}
		}
	}
	r.Totals = t
}

// Summary renders the report for humans: one header, then per op its changes. Everything the
// guest chose (paths, os-release fields, diff lines, errors) is passed through Printable.
func (r *Report) Summary() string {
	var b strings.Builder
	verb := "cleaned"
	if r.DryRun {
		verb = "dry run (nothing changed) of"
	}
	guest := "unknown guest"
	if g := r.Guest; g != nil {
		guest = Printable(strings.TrimSpace(fmt.Sprintf("%s %s (%s family)", g.ID, g.Version, g.Family)))
	}
	fmt.Fprintf(&b, "chromogenic-clean: %s %s, %s in %s\n", verb, Printable(r.Root), guest, r.Duration.Round(time.Millisecond))
	t := r.Totals
	fmt.Fprintf(&b, "  %d removed, %d truncated, %d edited, %d created, %d skipped, %d errors, %s freed\n",
		t.Removed, t.Truncated, t.Edited, t.Created, t.Skipped, t.Errors, humanBytes(t.BytesFreed))
	ops := append([]OpReport(nil), r.Ops...)
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Name < ops[j].Name })
	var na []string
	for _, op := range ops {
		if op.Status == StatusNotApplicable {
			na = append(na, op.Name)
			continue
		}
		if len(op.Changes) == 0 && len(op.Errors) == 0 {
			continue
		}
		fmt.Fprintf(&b, "%s: %d change(s)\n", Printable(op.Name), len(op.Changes))
		for _, c := range op.Changes {
			line := fmt.Sprintf("  %-9s %s", Printable(string(c.Action)), Printable(c.Path))
			if c.Type != "" && c.Type != "file" {
				line += " (" + Printable(c.Type) + ")"
			}
			if c.Reason != "" {
				line += ": " + Printable(c.Reason)
			}
			b.WriteString(line + "\n")
			for _, d := range c.Diff {
				b.WriteString("      " + Printable(d) + "\n")
			}
		}
		for _, e := range op.Errors {
			b.WriteString("  ERROR " + Printable(e) + "\n")
		}
	}
	if len(na) > 0 {
		fmt.Fprintf(&b, "not applicable to this guest: %s\n", Printable(strings.Join(na, ", ")))
	}
	return b.String()
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
