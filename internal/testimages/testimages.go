// Package testimages is for tests only: it gives Go tests the disk images this project is
// tested with, by driving the scripts that build and boot them.
//
//   - Sample returns the cached bootable Debian 12 raw disk (scripts/images/sample-image.sh).
//   - Make builds one of the root-filesystem-discovery test disks (test/images/mkimage.sh).
//   - Boot boots an image under qemu TCG and waits for the sample's boot marker
//     (test/images/boot.sh); BootWith picks the firmware and disk bus, and BootDisks boots
//     several disks together, returning what the guest printed before the marker.
//
// The helpers never skip: tests run as root on hosts provisioned by these scripts, and a
// missing tool is a failure. The first use on a fresh host builds the Debian tree cache
// (about 2 minutes); later uses take seconds. Caches live in $CHROMOGENIC_CACHE
// (default /var/cache/chromogenic).
package testimages

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

const modulePath = "github.com/chromogenic/packer-plugin-chromogenic"

var (
	sampleOnce sync.Once
	samplePath string
	sampleErr  error
)

// RepoRoot returns the root of the repository (the directory holding go.mod), or "" when it
// cannot be found.
func RepoRoot() string {
	if _, file, _, ok := runtime.Caller(0); ok {
		dir := filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
		if isRepoRoot(dir) {
			return dir
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if isRepoRoot(dir) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func isRepoRoot(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	return err == nil && bytes.Contains(b, []byte("module "+modulePath+"\n"))
}

func script(t testing.TB, rel string) string {
	t.Helper()
	root := RepoRoot()
	if root == "" {
		t.Fatalf("testimages: repository root (go.mod of %s) not found", modulePath)
	}
	return filepath.Join(root, filepath.FromSlash(rel))
}

// run runs a script and returns the last non-empty line of its stdout. A zero timeout means
// none. The script runs in its own process group; on timeout the whole group gets SIGTERM (the
// scripts' traps then release loops, mounts and qemu), and SIGKILL 30 s later.
func run(timeout time.Duration, name string, args ...string) (string, error) {
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	last := lastLine(stdout.String())
	if err != nil {
		return last, fmt.Errorf("%s %s: %v\nstdout:\n%s\nstderr:\n%s",
			filepath.Base(name), strings.Join(args, " "), err, tail(stdout.String(), 20), tail(stderr.String(), 60))
	}
	if last == "" {
		return "", fmt.Errorf("%s %s printed nothing on stdout; stderr:\n%s",
			filepath.Base(name), strings.Join(args, " "), tail(stderr.String(), 60))
	}
	return last, nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return ""
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Sample returns the path of the cached bootable sample image (raw, 2 GiB virtual, MBR, one
// ext4 root partition, extlinux, prints CHROMOGENIC-BOOT-OK on ttyS0 when booted). The
// script runs once per test binary. The file is shared: callers must copy it
// (cp --sparse=always) before modifying it.
func Sample(t testing.TB) string {
	t.Helper()
	sh := script(t, "scripts/images/sample-image.sh")
	sampleOnce.Do(func() {
		start := time.Now()
		samplePath, sampleErr = run(30*time.Minute, sh)
		if sampleErr == nil {
			t.Logf("testimages: sample image %s ready in %s", samplePath, time.Since(start).Round(time.Millisecond))
		}
	})
	if sampleErr != nil {
		t.Fatalf("testimages: sample image: %v", sampleErr)
	}
	return samplePath
}

// Kinds lists the kinds Make accepts (mkimage.sh --list).
func Kinds(t testing.TB) []string {
	t.Helper()
	out, err := exec.Command(script(t, "test/images/mkimage.sh"), "--list").Output()
	if err != nil {
		t.Fatalf("testimages: mkimage.sh --list: %v", err)
	}
	return strings.Fields(string(out))
}

// Make builds a test disk of the given kind (mkimage.sh --list; each kind's recipe and layout
// in test/images/kinds/<kind>.sh: mbr-boot, gpt-efi, bare-ext4, xfs-root, no-linux, lvm,
// lvm-var, lvm-grub, lvm-span, two-disk, btrfs-fedora, btrfs-suse) as dir/<kind>.raw and
// returns its path (two-disk, lvm-span: the second disk beside it as dir/<kind>-disk2.raw,
// see OtherDisks). The file belongs to the caller: each call gets a copy (cp, holes kept) of
// one disk mkimage.sh made, a fraction of the cost of unpacking the Debian tree again.
//
// That disk is kept in $CHROMOGENIC_CACHE/testimages/<kind>-<key>/<kind>.raw, where key is
// the sha256 of the kind's recipe (RecipeFiles: mkimage.sh, the kind's own
// test/images/kinds/<kind>.sh, lib.sh, and debootstrap-tree.sh, which keys the Debian trees)
// and MKIMAGE_SIZE: test binaries and runs share it, a change of a kind's recipe makes new
// disks of that kind (and a new kind, or a change to another kind's file, none of the
// others), and a file lock lets one process make each. xfs-root is the exception:
// XFS refuses to mount two file systems of the same UUID at once, so a disk shared by the
// test binaries running side by side could fail their mounts; it is made once per test
// binary and kept as an unlinked file, open until the process ends.
func Make(t testing.TB, kind, dir string) string {
	t.Helper()
	return makeImage(t, kind, dir, !sharedKinds[kind])
}

// MakeFresh is Make with a disk made by mkimage.sh for this call (run once per kind and test
// binary), never the one shared in the cache: for the tests of mkimage.sh itself.
func MakeFresh(t testing.TB, kind, dir string) string {
	t.Helper()
	return makeImage(t, kind, dir, true)
}

// sharedKinds are the kinds whose disks the cache shares between test binaries.
var sharedKinds = map[string]bool{"mbr-boot": true, "gpt-efi": true, "bare-ext4": true, "no-linux": true, "lvm": true, "lvm-var": true, "lvm-grub": true, "lvm-span": true, "two-disk": true, "btrfs-fedora": true, "btrfs-suse": true}

func makeImage(t testing.TB, kind, dir string, own bool) string {
	t.Helper()
	out := filepath.Join(dir, kind+".raw")
	start := time.Now()
	var src, what string
	if own {
		src, what = ownDisk(t, kind)
	} else {
		src, what = sharedDisk(t, kind)
	}
	if b, err := exec.Command("cp", "--sparse=auto", src, out).CombinedOutput(); err != nil {
		t.Fatalf("testimages: make %s: copy: %v\n%s", kind, err, b)
	}
	copyOtherDisks(t, kind, src, out, own)
	t.Logf("testimages: %s image %s in %s", kind, what, time.Since(start).Round(time.Millisecond))
	return out
}

// ownDisk returns a path to this test binary's own disk of kind, made on first use.
func ownDisk(t testing.TB, kind string) (path, what string) {
	t.Helper()
	made.Lock()
	k := made.kinds[kind]
	if k == nil {
		k = &madeKind{}
		made.kinds[kind] = k
	}
	made.Unlock()
	k.Lock()
	defer k.Unlock()
	what = "copied from this test binary's first one"
	if k.f == nil {
		tmp := filepath.Join(os.TempDir(), fmt.Sprintf("testimages-%s-%d.raw", kind, os.Getpid()))
		path, err := run(30*time.Minute, script(t, "test/images/mkimage.sh"), kind, tmp)
		if err != nil {
			t.Fatalf("testimages: make %s: %v", kind, err)
		}
		f, err := os.Open(path)
		os.Remove(path)
		if err != nil {
			t.Fatalf("testimages: make %s: %v", kind, err)
		}
		for _, o := range OtherDisks(path) {
			g, err := os.Open(o)
			os.Remove(o)
			if err != nil {
				t.Fatalf("testimages: make %s: %v", kind, err)
			}
			k.others = append(k.others, g)
		}
		k.f = f
		what = "made"
	}
	return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), k.f.Fd()), what
}

// sharedDisk returns the path of the cached disk of kind, making it if no process has.
func sharedDisk(t testing.TB, kind string) (path, what string) {
	t.Helper()
	dir := filepath.Join(cacheRoot(), "testimages", kind+"-"+recipeKey(t, kind))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("testimages: make %s: %v", kind, err)
	}
	now := time.Now()
	os.Chtimes(dir, now, now) // in use: pruneDisks keeps it
	path = filepath.Join(dir, kind+".raw")
	lock, err := os.OpenFile(filepath.Join(dir, "."+kind+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("testimages: make %s: %v", kind, err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("testimages: make %s: lock: %v", kind, err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(path); err == nil {
		return path, "copied from the cache (" + dir + ")"
	}
	// mkimage.sh writes OUT.tmp.PID and renames it to OUT: a disk in the cache is complete.
	if _, err := run(30*time.Minute, script(t, "test/images/mkimage.sh"), kind, path); err != nil {
		t.Fatalf("testimages: make %s: %v", kind, err)
	}
	pruneDisks.Do(func() { prune(filepath.Dir(dir), dir) })
	return path, "made into the cache (" + dir + ")"
}

// RecipeFiles are the files, relative to the repository's root, that mkimage.sh's disks of
// kind depend on: the script with its shared helpers, the kind's own recipe, and the scripts
// making the Debian trees.
func RecipeFiles(kind string) []string {
	return []string{"test/images/mkimage.sh", "test/images/kinds/" + kind + ".sh", "scripts/images/lib.sh", "scripts/images/debootstrap-tree.sh"}
}

// recipeKey is the cache key of the disks of kind: what mkimage.sh's output for it depends on.
func recipeKey(t testing.TB, kind string) string {
	t.Helper()
	root := RepoRoot()
	if root == "" {
		t.Fatalf("testimages: repository root (go.mod of %s) not found", modulePath)
	}
	key, err := recipeKeyIn(root, kind)
	if err != nil {
		t.Fatalf("testimages: %v", err)
	}
	return key
}

// recipeKeyIn is the key of kind's recipe in the tree at root: the sha256 of its RecipeFiles
// (each with its name and length) and MKIMAGE_SIZE.
func recipeKeyIn(root, kind string) (string, error) {
	h := sha256.New()
	for _, rel := range RecipeFiles(kind) {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", rel, len(b))
		h.Write(b)
	}
	fmt.Fprintf(h, "MKIMAGE_SIZE=%s\n", os.Getenv("MKIMAGE_SIZE"))
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func cacheRoot() string {
	if c := os.Getenv("CHROMOGENIC_CACHE"); c != "" {
		return c
	}
	return "/var/cache/chromogenic"
}

var pruneDisks sync.Once

// prune removes the disks of other recipes unused for a week (a recipe in use, in another
// worktree say, touches its directory at every Make).
func prune(root, keep string) {
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		p := filepath.Join(root, e.Name())
		if fi, err := e.Info(); err == nil && e.IsDir() && p != keep && time.Since(fi.ModTime()) > 7*24*time.Hour {
			os.RemoveAll(p)
		}
	}
}

// made holds the disk mkimage.sh made for each kind that is not shared, open and unlinked.
var made = struct {
	sync.Mutex
	kinds map[string]*madeKind
}{kinds: map[string]*madeKind{}}

type madeKind struct {
	sync.Mutex
	f      *os.File
	others []*os.File // the other disks of a kind of several (OtherDisks)
}

// Boot boots image (qemu format: raw, qcow2, vmdk...) under qemu TCG with -snapshot, so the
// image is not modified, and fails the test unless the guest prints CHROMOGENIC-BOOT-OK on
// its serial console within timeout. A full boot of the sample image takes about a minute.
func Boot(t testing.TB, image, format string, timeout time.Duration) {
	t.Helper()
	testtier.Acceptance(t, "a qemu boot")
	timeout = bootTimeout(timeout)
	secs := int((timeout + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	took, err := run(timeout+time.Minute, script(t, "test/images/boot.sh"), image, format, fmt.Sprint(secs))
	if err != nil {
		t.Fatalf("testimages: boot %s (%s): %v", image, format, err)
	}
	t.Logf("testimages: %s (%s) booted to the marker in %s s", filepath.Base(image), format, took)
}

// MinBootTimeout is the least time a boot is given, whatever the test asks: a boot's timeout
// only stops a guest that hangs, it measures nothing, and on a loaded two-core machine (a CI
// run beside other work) a minimal Debian under TCG has taken over six minutes to reach its
// marker where it takes one alone.
const MinBootTimeout = 12 * time.Minute

func bootTimeout(asked time.Duration) time.Duration { return max(asked, MinBootTimeout) }

// OtherDisks lists the other disks of a kind of several disks (two-disk, lvm-span) that Make put beside
// image: <kind>-disk2.raw and so on, in order; none for a kind of one disk.
func OtherDisks(image string) []string {
	var out []string
	base := strings.TrimSuffix(image, ".raw")
	for n := 2; ; n++ {
		p := fmt.Sprintf("%s-disk%d.raw", base, n)
		if _, err := os.Stat(p); err != nil {
			return out
		}
		out = append(out, p)
	}
}

// copyOtherDisks copies the other disks of src (OtherDisks; for a disk of this test binary's
// own, the files it holds open) beside out.
func copyOtherDisks(t testing.TB, kind, src, out string, own bool) {
	t.Helper()
	var srcs []string
	if own {
		made.Lock()
		k := made.kinds[kind]
		made.Unlock()
		for _, f := range k.others {
			srcs = append(srcs, fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), f.Fd()))
		}
	} else {
		srcs = OtherDisks(src)
	}
	base := strings.TrimSuffix(out, ".raw")
	for i, s := range srcs {
		dst := fmt.Sprintf("%s-disk%d.raw", base, i+2)
		if b, err := exec.Command("cp", "--sparse=auto", s, dst).CombinedOutput(); err != nil {
			t.Fatalf("testimages: make %s: copy disk %d: %v\n%s", kind, i+2, err, b)
		}
	}
}
