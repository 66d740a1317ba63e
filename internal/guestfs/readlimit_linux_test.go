package guestfs

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestReadFileSparseHuge: a sparse 1 TiB /etc/fstab (a few blocks on disk) is refused with
// an error naming the guest path and its size, and reading it allocates almost nothing.
// The former ReadFile allocated the size the file claimed.
func TestReadFileSparseHuge(t *testing.T) {
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "etc"), 0o755))
	f, err := os.Create(filepath.Join(dir, "etc", "fstab"))
	must(t, err)
	must(t, f.Truncate(1<<40))
	f.Close()
	r, err := OpenRoot(dir)
	must(t, err)
	defer r.Close()

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b, err := r.ReadFile("etc/fstab")
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "/etc/fstab") || !strings.Contains(err.Error(), "1099511627776") {
		t.Fatalf("ReadFile = %d bytes, %v; want ErrTooLarge naming /etc/fstab and its size", len(b), err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("allocated %d bytes", d)
	}
	t.Log(err)
}

// TestReadFileLimit: ReadFileLimit reads a file of exactly max bytes and refuses one byte
// more; ReadFile reads up to DefaultReadLimit.
func TestReadFileLimit(t *testing.T) {
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "ten"), []byte("0123456789"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "big"), make([]byte, DefaultReadLimit+1), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "max"), make([]byte, DefaultReadLimit), 0o644))
	r, err := OpenRoot(dir)
	must(t, err)
	defer r.Close()
	if b, err := r.ReadFileLimit("ten", 10); err != nil || string(b) != "0123456789" {
		t.Errorf("ReadFileLimit(ten, 10) = %q, %v", b, err)
	}
	if _, err := r.ReadFileLimit("ten", 9); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "/ten") {
		t.Errorf("ReadFileLimit(ten, 9) = %v, want ErrTooLarge naming /ten", err)
	}
	if b, err := r.ReadFile("max"); err != nil || len(b) != DefaultReadLimit {
		t.Errorf("ReadFile(max) = %d bytes, %v", len(b), err)
	}
	if _, err := r.ReadFile("big"); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ReadFile(big) = %v, want ErrTooLarge", err)
	}
}
