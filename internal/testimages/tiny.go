package testimages

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Tiny makes the smallest guest the project boots, as dir/tiny.raw (16 MiB, raw): sector 0
// is test/openstack-aio/tiny-image.py's MBR program (it prints CHROMOGENIC-AIO-BOOT-OK on
// COM1 and halts) and partition 1 is an ext4 filesystem (label tinyroot) holding a minimal
// tree: /etc/os-release (Debian 12), /etc/fstab, /hello.txt and the directories a chroot
// mounts on (/proc, /sys, /dev/pts, /run, /tmp, /root). It has no shell: provision it with
// the file provisioner (builders need root_partition = 1). It suits tests where images move
// through builds and clouds, not their guests: it moves in a second. Needs no root; the
// file belongs to the caller.
func Tiny(t testing.TB, dir string) string {
	t.Helper()
	tree := filepath.Join(dir, "tiny-tree")
	for _, d := range []string{"etc", "proc", "sys", "dev/pts", "run", "tmp", "root"} {
		if err := os.MkdirAll(filepath.Join(tree, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{
		"etc/os-release": "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"tiny test guest\"\n",
		"etc/fstab":      "LABEL=tinyroot / ext4 defaults 0 1\n",
		"hello.txt":      "hello from the tiny guest\n",
	} {
		if err := os.WriteFile(filepath.Join(tree, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw := filepath.Join(dir, "tiny.raw")
	part := filepath.Join(dir, "tiny-part.ext4")
	for _, c := range [][]string{
		{"python3", script(t, "test/openstack-aio/tiny-image.py"), raw},
		{"truncate", "-s", "15M", part},
		{"mkfs.ext4", "-q", "-F", "-L", "tinyroot", "-d", tree, part},
		{"dd", "if=" + part, "of=" + raw, "bs=1M", "seek=1", "conv=notrunc,sparse", "status=none"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("testimages: tiny image: %v: %v\n%s", c, err, out)
		}
	}
	os.Remove(part)
	os.RemoveAll(tree)
	return raw
}
