package testimages

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// DebianTree extracts the cached Debian 12 debootstrap tree (scripts/images/debootstrap-tree.sh,
// built on first use) into dir/debian and returns that path. Owners, modes and xattrs are
// kept (needs root). The tree (about 600 MB) belongs to the caller; put dir under /var/tmp.
func DebianTree(t testing.TB, dir string) string {
	t.Helper()
	tarball, err := run(30*time.Minute, script(t, "scripts/images/debootstrap-tree.sh"))
	if err != nil {
		t.Fatalf("testimages: debootstrap tree: %v", err)
	}
	out := filepath.Join(dir, "debian")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cmd := exec.Command("tar", "--zstd", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-xpf", tarball, "-C", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testimages: extract %s: %v\n%s", tarball, err, b)
	}
	t.Logf("testimages: Debian tree extracted in %s", time.Since(start).Round(time.Millisecond))
	return out
}
