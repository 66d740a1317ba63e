package retarget

import (
	"context"
	"os"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/clean"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtree"
)

func TestMain(m *testing.M) {
	// Disk image copies live under /var/tmp (t.TempDir honours TMPDIR).
	os.Setenv("TMPDIR", "/var/tmp")
	os.Exit(m.Run())
}

func needRoot(t testing.TB) {
	t.Helper()
	testtree.NeedRoot(t, "owners, hard links, mounts, chroot")
}

// The tree helpers are internal/testtree's, shared with internal/clean's tests.
var (
	mk           = testtree.Write
	must         = testtree.Must
	readT        = testtree.Read
	exists       = testtree.Exists
	snapshotTree = testtree.Snapshot
	openRoot     = testtree.OpenRoot
)

// runClean runs the cleaning engine (with this package's xen-to-kvm op registered).
func runClean(t testing.TB, r *guestfs.Root, opts clean.Options) *clean.Report {
	t.Helper()
	rep, err := clean.Run(context.Background(), r, opts)
	if rep == nil {
		t.Fatalf("Run: %v", err)
	}
	if err != nil {
		t.Errorf("Run: %v", err)
	}
	return rep
}
