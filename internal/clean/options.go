package clean

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
)

// Options configure Run. The zero value runs the default operations for real.
type Options struct {
	// Operations selects the ops (see Resolve): e.g. ["defaults", "+user-account", "-tmp-files"]
	// or ["chromogenic"]. Empty means "defaults".
	Operations []string `json:"operations,omitempty"`
	// DryRun lists what would change without changing anything.
	DryRun bool `json:"dry_run,omitempty"`

	// Users configures the user-account op.
	Users UserOptions `json:"users,omitempty"`
	// Rules are the custom rules run by the custom-rules op (which is a default op and does
	// nothing when Rules is empty).
	Rules Rules `json:"rules,omitempty"`

	// AllowLiveRoot lets Run clean a root that is the host's own "/" (the provisioner running
	// on a live instance through a communicator). Without it such a root is refused.
	AllowLiveRoot bool `json:"allow_live_root,omitempty"`
	// Live, when set, applies the live-system rules (see Live): the root is a running
	// system the engine runs on.
	Live *Live `json:"live,omitempty"`
	// TrustGuest runs the guest programs an op needs (internal/retarget's xen-to-kvm op: the
	// initramfs rebuild) with plain chroot instead of the sandbox: the templates'
	// `sandbox = false`.
	TrustGuest bool `json:"trust_guest,omitempty"`
	// Force runs even when inspection finds no Linux guest in the tree.
	Force bool `json:"force,omitempty"`
	// MaxEditSize is the largest file the engine reads to edit (default 16 MiB); larger files
	// are skipped and reported.
	MaxEditSize int64 `json:"max_edit_size,omitempty"`
	// Logf, when set, receives one line per op started and per error (progress for the UI).
	Logf func(format string, args ...any) `json:"-"`
}

// UserOptions configure the user-account op.
type UserOptions struct {
	// Remove, when not empty, lists the only accounts to remove (any UID except 0). When
	// empty, every account with a UID in the guest's ordinary range (login.defs UID_MIN..
	// UID_MAX) is removed.
	Remove []string `json:"remove,omitempty"`
	// Keep lists accounts never removed.
	Keep []string `json:"keep,omitempty"`
	// KeepHomes keeps the home directories (and mail spools, crontabs) of removed accounts.
	KeepHomes bool `json:"keep_homes,omitempty"`
}

// Rules are custom cleaning rules. Paths are absolute guest paths; File and the globs use
// path.Match syntax per component ('*' also matches dot files).
type Rules struct {
	// Remove removes every match (directories with their content).
	Remove []string `json:"remove,omitempty"`
	// Truncate empties every matching regular file in place.
	Truncate []string `json:"truncate,omitempty"`
	// DeleteLines deletes the lines matching Regexp in File.
	DeleteLines []LineRule `json:"delete_lines,omitempty"`
	// ReplaceLines replaces, in each line of File, the matches of Regexp with Replacement
	// (regexp.Expand syntax: $1, ${name}).
	ReplaceLines []LineRule `json:"replace_lines,omitempty"`
	// AppendLines appends Line to File unless a line equal to it is already there; Create
	// creates a missing file (mode 0644).
	AppendLines []AppendRule `json:"append_lines,omitempty"`
}

// LineRule is a line edit in the files matching File. Regexp is matched against each line
// without its line ending (RE2 syntax).
type LineRule struct {
	File        string `json:"file"`
	Regexp      string `json:"regexp"`
	Replacement string `json:"replacement,omitempty"`
}

// AppendRule appends Line to File when absent.
type AppendRule struct {
	File   string `json:"file"`
	Line   string `json:"line"`
	Create bool   `json:"create,omitempty"`
}

// Empty reports whether there are no rules.
func (r Rules) Empty() bool {
	return len(r.Remove)+len(r.Truncate)+len(r.DeleteLines)+len(r.ReplaceLines)+len(r.AppendLines) == 0
}

const defaultMaxEditSize = 16 << 20

// Validate checks the selection and the rules (call it in a provisioner's Prepare).
func (o *Options) Validate() error {
	var errs []error
	if _, err := Resolve(o.Operations); err != nil {
		errs = append(errs, err)
	}
	checkGlob := func(what, p string) {
		if !strings.HasPrefix(p, "/") {
			errs = append(errs, fmt.Errorf("clean: %s %q: must be an absolute guest path", what, p))
			return
		}
		if path.Clean(p) == "/" {
			errs = append(errs, fmt.Errorf("clean: %s %q: refusing the root directory", what, p))
			return
		}
		if _, err := path.Match(p, ""); err != nil {
			errs = append(errs, fmt.Errorf("clean: %s %q: %v", what, p, err))
		}
	}
	for _, p := range o.Rules.Remove {
		checkGlob("rules.remove", p)
	}
	for _, p := range o.Rules.Truncate {
		checkGlob("rules.truncate", p)
	}
	for i, lr := range o.Rules.DeleteLines {
		checkGlob(fmt.Sprintf("rules.delete_lines[%d].file", i), lr.File)
		if _, err := regexp.Compile(lr.Regexp); err != nil || lr.Regexp == "" {
			errs = append(errs, fmt.Errorf("clean: rules.delete_lines[%d].regexp %q: invalid (%v)", i, lr.Regexp, err))
		}
	}
	for i, lr := range o.Rules.ReplaceLines {
		checkGlob(fmt.Sprintf("rules.replace_lines[%d].file", i), lr.File)
		if _, err := regexp.Compile(lr.Regexp); err != nil || lr.Regexp == "" {
			errs = append(errs, fmt.Errorf("clean: rules.replace_lines[%d].regexp %q: invalid (%v)", i, lr.Regexp, err))
		}
	}
	for i, ar := range o.Rules.AppendLines {
		checkGlob(fmt.Sprintf("rules.append_lines[%d].file", i), ar.File)
		if strings.ContainsAny(ar.Line, "\n\r") {
			errs = append(errs, fmt.Errorf("clean: rules.append_lines[%d].line: must be a single line", i))
		}
		if ar.Create && hasMeta(ar.File) {
			errs = append(errs, fmt.Errorf("clean: rules.append_lines[%d]: create needs a file name, not a pattern", i))
		}
	}
	for _, u := range append(append([]string(nil), o.Users.Remove...), o.Users.Keep...) {
		if u == "" || strings.ContainsAny(u, ":\n/") {
			errs = append(errs, fmt.Errorf("clean: bad user name %q", u))
		}
	}
	if o.MaxEditSize < 0 {
		errs = append(errs, errors.New("clean: max_edit_size must not be negative"))
	}
	return errors.Join(errs...)
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }
