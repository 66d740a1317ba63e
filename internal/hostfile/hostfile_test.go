package hostfile

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestCreateExactModeWhateverUmaskAndPriorFile(t *testing.T) {
	old := syscall.Umask(0) // the widest umask: nothing masked
	defer syscall.Umask(old)
	dir := t.TempDir()
	p := filepath.Join(dir, "out.raw")
	if err := os.WriteFile(p, []byte("old"), 0o666); err != nil {
		t.Fatal(err)
	}
	f, err := Create(p, DefaultFileMode)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if m := mode(t, p); m != 0o600 {
		t.Fatalf("existing 0666 file recreated with mode %o, want 0600", m)
	}
	syscall.Umask(0o077) // a strict umask must not narrow an asked-for group mode
	if err := WriteFile(p, []byte("x"), 0o640); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, p); m != 0o640 {
		t.Fatalf("file_mode 0640 under umask 077 gave %o", m)
	}
}

func TestCreateRefusesFinalSymlink(t *testing.T) {
	dir := t.TempDir()
	canary := filepath.Join(dir, "canary")
	os.WriteFile(canary, []byte("host"), 0o644)
	link := filepath.Join(dir, "out")
	os.Symlink(canary, link)
	if _, err := Create(link, DefaultFileMode); err == nil {
		t.Fatal("Create followed a symlink")
	}
	if b, _ := os.ReadFile(canary); string(b) != "host" {
		t.Fatalf("canary changed: %q", b)
	}
}

func TestMkdirAllModes(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	base := t.TempDir()
	os.Chmod(base, 0o755)
	d := filepath.Join(base, "a", "b")
	created, err := MkdirAll(d, 0o700)
	if err != nil || !created {
		t.Fatalf("created %v, err %v", created, err)
	}
	for _, p := range []string{filepath.Join(base, "a"), d} {
		if m := mode(t, p); m != 0o700 {
			t.Errorf("%s: mode %o, want 0700", p, m)
		}
	}
	if m := mode(t, base); m != 0o755 {
		t.Errorf("existing directory changed to %o", m)
	}
	if created, err := MkdirAll(d, 0o700); err != nil || created {
		t.Fatalf("second MkdirAll: created %v, err %v", created, err)
	}
}

func TestParseModeAndDirMode(t *testing.T) {
	for s, want := range map[string]os.FileMode{"": 0o600, "0600": 0o600, "640": 0o640, "0644": 0o644, "0660": 0o660} {
		m, err := ParseMode("file_mode", s)
		if err != nil || m != want {
			t.Errorf("ParseMode(%q) = %o, %v; want %o", s, m, err, want)
		}
	}
	for _, s := range []string{"0755", "4600", "0400", "0060", "rw-r-----", "0999", "-1"} {
		if _, err := ParseMode("file_mode", s); err == nil || !strings.Contains(err.Error(), "file_mode") {
			t.Errorf("ParseMode(%q) = %v, want an error naming file_mode", s, err)
		}
	}
	for m, want := range map[os.FileMode]os.FileMode{0o600: 0o700, 0o640: 0o750, 0o644: 0o755, 0o660: 0o770, 0o666: 0o777} {
		if got := DirMode(m); got != want {
			t.Errorf("DirMode(%o) = %o, want %o", m, got, want)
		}
	}
}
