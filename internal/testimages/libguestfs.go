package testimages

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// LibguestfsEnv returns the environment for a libguestfs tool (virt-v2v...) run by a test:
// libguestfs's direct backend under TCG (KVM guests crash here), its appliance cached in
// /var/tmp (LIBGUESTFS_CACHEDIR: not rebuilt per test when the test sets TMPDIR) and, when the
// host has no kernel in /boot for supermin to build that appliance with (a container), the
// Debian tree's kernel and modules (SUPERMIN_KERNEL, SUPERMIN_MODULES,
// SUPERMIN_KERNEL_VERSION), extracted once into $CHROMOGENIC_CACHE/supermin-<tree>/ (and an
// empty /lib/modules made on the host, which supermin needs).
func LibguestfsEnv(t testing.TB) []string {
	t.Helper()
	env := append(os.Environ(), "LIBGUESTFS_BACKEND=direct", "LIBGUESTFS_BACKEND_SETTINGS=force_tcg")
	if os.Getenv("LIBGUESTFS_CACHEDIR") == "" {
		env = append(env, "LIBGUESTFS_CACHEDIR=/var/tmp")
	}
	if ks, _ := filepath.Glob("/boot/vmlinuz-*"); len(ks) > 0 || os.Getenv("SUPERMIN_KERNEL") != "" {
		return env
	}
	tarball, err := run(30*time.Minute, script(t, "scripts/images/debootstrap-tree.sh"))
	if err != nil {
		t.Fatalf("testimages: debootstrap tree: %v", err)
	}
	dir := filepath.Join(filepath.Dir(tarball), "supermin-"+strings.TrimSuffix(filepath.Base(tarball), ".tar.zst"))
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	ks, _ := filepath.Glob(filepath.Join(dir, "boot", "vmlinuz-*"))
	if len(ks) == 0 {
		tmp := dir + ".tmp"
		os.RemoveAll(tmp)
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			t.Fatal(err)
		}
		// The tree has a merged /usr: the modules are in usr/lib/modules.
		cmd := exec.Command("tar", "--zstd", "--numeric-owner", "-xf", tarball, "-C", tmp, "--wildcards", "./boot/vmlinuz-*", "./usr/lib/modules/*")
		if b, err := cmd.CombinedOutput(); err != nil {
			os.RemoveAll(tmp)
			t.Fatalf("testimages: kernel for supermin from %s: %v\n%s", tarball, err, b)
		}
		os.RemoveAll(dir)
		if err := os.Rename(tmp, dir); err != nil {
			t.Fatal(err)
		}
		ks, _ = filepath.Glob(filepath.Join(dir, "boot", "vmlinuz-*"))
	}
	if len(ks) != 1 {
		t.Fatalf("testimages: kernels for supermin in %s: %v, want one", dir, ks)
	}
	// supermin copies the modules to /lib/modules/<version> in the appliance and takes that
	// directory's metadata from the host's /lib/modules, which a host without a kernel lacks:
	// an empty one is what every host with a kernel has.
	if _, err := os.Stat("/lib/modules"); err != nil {
		if err := os.MkdirAll("/lib/modules", 0o755); err != nil {
			t.Fatalf("testimages: supermin needs /lib/modules on the host: %v", err)
		}
		t.Logf("testimages: made an empty /lib/modules for supermin")
	}
	ver := strings.TrimPrefix(filepath.Base(ks[0]), "vmlinuz-")
	return append(env, "SUPERMIN_KERNEL="+ks[0], "SUPERMIN_MODULES="+filepath.Join(dir, "usr", "lib", "modules", ver),
		"SUPERMIN_KERNEL_VERSION="+ver)
}
