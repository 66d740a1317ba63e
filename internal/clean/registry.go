//go:build linux

package clean

import (
	"fmt"
	"sort"
	"strings"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"
)

// Op is one cleaning operation. Each op_*.go file declares one and registers it in init.
type Op struct {
	// Name is the selection name (lower-case, dash-separated, virt-sysprep's name when the
	// operation has a virt-sysprep counterpart).
	Name string
	// Description is one line for listings and documentation.
	Description string
	// Default reports whether the op is part of the "defaults" selection.
	Default bool
	// Groups are extra selection groups the op belongs to (for example "chromogenic").
	Groups []string
	// AppliesTo is a human description of the guests the op applies to ("all Linux
	// guests", "Red Hat family"...).
	AppliesTo string
	// Applies reports whether the op applies to the inspected guest, and why not. Nil means
	// every guest.
	Applies func(os *guestfs.OSInfo) (bool, string)
	// Order sorts ops at run time (lower first; ties by name). Ops that edit account files
	// run early, custom rules last.
	Order int
	// Run performs the op through e (which honours dry-run).
	Run func(e *Env) error
}

// OpInfo describes a registered op for listings (Operations).
type OpInfo struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Default     bool     `json:"default"`
	Groups      []string `json:"groups,omitempty"`
	AppliesTo   string   `json:"applies_to"`
}

var registry = map[string]*Op{}

// Register adds an op to the registry. It panics on a duplicate or invalid op (a programming
// error caught by any test).
func Register(op Op) {
	if op.Name == "" || op.Run == nil || op.Description == "" {
		panic("clean: Register: op needs a name, a description and a Run function")
	}
	if op.Name != strings.ToLower(op.Name) || strings.ContainsAny(op.Name, " ,+") || isGroup(op.Name) {
		panic("clean: Register: bad op name " + op.Name)
	}
	if _, dup := registry[op.Name]; dup {
		panic("clean: Register: duplicate op " + op.Name)
	}
	if op.AppliesTo == "" {
		op.AppliesTo = "all Linux guests"
	}
	if op.Order == 0 {
		op.Order = 50
	}
	o := op
	registry[op.Name] = &o
}

// Operations lists the registered ops sorted by name.
func Operations() []OpInfo {
	var out []OpInfo
	for _, op := range registry {
		out = append(out, OpInfo{Name: op.Name, Description: op.Description, Default: op.Default,
			Groups: append([]string(nil), op.Groups...), AppliesTo: op.AppliesTo})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Selection groups accepted by Resolve.
const (
	GroupDefaults    = "defaults"    // ops with Default set
	GroupAll         = "all"         // every registered op
	GroupChromogenic = "chromogenic" // defaults plus what the original chromogenic also did
)

func isGroup(s string) bool { return s == GroupDefaults || s == GroupAll || s == GroupChromogenic }

// Resolve expands an operation selection into op names in run order. Items are applied left
// to right: "defaults", "all", "chromogenic" (groups), "name" or "+name" (add), "-name" or
// "-group" (remove). Items may also be comma-separated lists. An empty selection means
// "defaults". Unknown names are an error.
func Resolve(sel []string) ([]string, error) {
	var items []string
	for _, s := range sel {
		for _, it := range strings.Split(s, ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
	}
	if len(items) == 0 {
		items = []string{GroupDefaults}
	}
	chosen := map[string]bool{}
	for _, it := range items {
		add := true
		switch it[0] {
		case '-':
			add, it = false, it[1:]
		case '+':
			it = it[1:]
		}
		var names []string
		switch it {
		case GroupAll:
			for n := range registry {
				names = append(names, n)
			}
		case GroupDefaults, GroupChromogenic:
			for n, op := range registry {
				if op.Default || (it == GroupChromogenic && contains(op.Groups, GroupChromogenic)) {
					names = append(names, n)
				}
			}
		default:
			if _, ok := registry[it]; !ok {
				return nil, fmt.Errorf("clean: unknown operation %q (known: %s)", it, strings.Join(opNames(), ", "))
			}
			names = []string{it}
		}
		for _, n := range names {
			chosen[n] = add
		}
	}
	var out []string
	for n, ok := range chosen {
		if ok {
			out = append(out, n)
		}
	}
	sortByOrder(out)
	return out, nil
}

func sortByOrder(names []string) {
	sort.Slice(names, func(i, j int) bool {
		a, b := registry[names[i]], registry[names[j]]
		if a.Order != b.Order {
			return a.Order < b.Order
		}
		return a.Name < b.Name
	})
}

func opNames() []string {
	var n []string
	for k := range registry {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Applicability helpers for Op.Applies.

func onlyRHEL(o *guestfs.OSInfo) (bool, string) {
	if o.IsRHEL() {
		return true, ""
	}
	return false, "not a Red Hat family guest (" + o.Family + ")"
}

func onlyRPM(o *guestfs.OSInfo) (bool, string) {
	if o.RPMBased() {
		return true, ""
	}
	return false, "not an rpm-based guest (" + o.Family + ")"
}

func rhelOrSUSE(o *guestfs.OSInfo) (bool, string) { return onlyRPM(o) }
