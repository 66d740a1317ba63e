package clean

import (
	"context"
	"os"
	"syscall"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtree"
)

func TestMain(m *testing.M) {
	// Big trees and sparse files live under /var/tmp (t.TempDir honours TMPDIR).
	os.Setenv("TMPDIR", "/var/tmp")
	os.Exit(m.Run())
}

func needRoot(t testing.TB) {
	t.Helper()
	testtree.NeedRoot(t, "owners, device nodes, hard links, mounts")
}

// The tree helpers are internal/testtree's, shared with internal/retarget's tests.
type entry = testtree.Entry

var (
	mk            = testtree.Write
	must          = testtree.Must
	readT         = testtree.Read
	exists        = testtree.Exists
	snapshotTree  = testtree.Snapshot
	snapshotSkip  = testtree.SnapshotSkip
	diffSnapshots = testtree.Diff
	xattrs        = testtree.Xattrs
	openRoot      = testtree.OpenRoot
)

func run(t testing.TB, r *guestfs.Root, opts Options) *Report {
	t.Helper()
	rep, err := Run(context.Background(), r, opts)
	if rep == nil {
		t.Fatalf("Run: %v", err)
	}
	if err != nil {
		t.Errorf("Run: %v", err)
	}
	return rep
}

// changeSet is the set of "action path" of a report (skips included).
func changeSet(r *Report) map[string]bool {
	m := map[string]bool{}
	for _, op := range r.Ops {
		for _, c := range op.Changes {
			m[string(c.Action)+" "+c.Path] = true
		}
	}
	return m
}

func hasChange(r *Report, op string, a Action, p string) bool {
	o := r.Op(op)
	if o == nil {
		return false
	}
	for _, c := range o.Changes {
		if c.Action == a && c.Path == p {
			return true
		}
	}
	return false
}

func inodeOf(t testing.TB, p string) *syscall.Stat_t {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t)
}
