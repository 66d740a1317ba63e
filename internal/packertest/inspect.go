package packertest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// GuestFiles reads guest paths from a raw disk image with util-linux's own tools (sfdisk,
// losetup, mount), independently of the plugin's engine: every partition (or the bare
// filesystem) is mounted read-only in turn and each path is read from the first filesystem
// holding it. Missing paths are absent from the result.
func GuestFiles(t testing.TB, image string, paths ...string) map[string][]byte {
	t.Helper()
	type part struct{ start, size int64 }
	var parts []part
	out, err := exec.Command("sfdisk", "--json", image).Output()
	if err == nil {
		var doc struct {
			PartitionTable struct {
				Partitions []struct{ Start, Size int64 } `json:"partitions"`
			} `json:"partitiontable"`
		}
		if err := json.Unmarshal(out, &doc); err != nil {
			t.Fatal(err)
		}
		for _, p := range doc.PartitionTable.Partitions {
			parts = append(parts, part{p.Start * 512, p.Size * 512})
		}
	} else {
		parts = []part{{0, 0}}
	}
	found := map[string][]byte{}
	dir := t.TempDir()
	for _, p := range parts {
		args := []string{"--show", "-f", "-r", "-o", strconv.FormatInt(p.start, 10)}
		if p.size > 0 {
			args = append(args, "--sizelimit", strconv.FormatInt(p.size, 10))
		}
		dev, err := exec.Command("losetup", append(args, image)...).Output()
		if err != nil {
			t.Fatalf("losetup %s: %v", image, err)
		}
		loop := strings.TrimSpace(string(dev))
		if exec.Command("mount", "-o", "ro,noload", loop, dir).Run() != nil &&
			exec.Command("mount", "-o", "ro", loop, dir).Run() != nil {
			exec.Command("losetup", "-d", loop).Run()
			continue
		}
		for _, gp := range paths {
			if _, ok := found[gp]; ok {
				continue
			}
			// The test images are ours, but read without following links all the same.
			full := filepath.Join(dir, gp)
			if fi, err := os.Lstat(full); err == nil && fi.Mode().IsRegular() {
				b, err := os.ReadFile(full)
				if err == nil {
					found[gp] = b
				}
			}
		}
		if err := exec.Command("umount", dir).Run(); err != nil {
			t.Fatalf("umount %s: %v", dir, err)
		}
		exec.Command("losetup", "-d", loop).Run()
	}
	return found
}

// FileSHA256 hashes a whole file.
func FileSHA256(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// SameBytes reports whether two files hold the same bytes (read in 4 MiB pieces).
func SameBytes(t testing.TB, a, b string) bool {
	t.Helper()
	fa, err := os.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	ba, bb := make([]byte, 4<<20), make([]byte, 4<<20)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false
		}
		if ea != nil || eb != nil {
			return ea != nil && eb != nil
		}
	}
}

// AllocatedBytes is the disk space a (sparse) file takes.
func AllocatedBytes(t testing.TB, path string) int64 {
	t.Helper()
	out, err := exec.Command("stat", "-c", "%b %B", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	var blocks, size int64
	fmt.Sscan(string(out), &blocks, &size)
	return blocks * size
}

// CopySparse copies src to dst keeping holes (cp --sparse=always).
func CopySparse(t testing.TB, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "--sparse=always", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp %s: %v %s", src, err, out)
	}
}

// RandomDisk writes a sparse disk of sizeMiB MiB at path holding pieces MiB of random data
// (seeded: the same arguments give the same disk), each 1 MiB piece at a random MiB from
// fromMiB on; pieces may overlap.
func RandomDisk(t testing.TB, path string, sizeMiB, pieces int, seed int64, fromMiB int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rng := rand.New(rand.NewSource(seed))
	buf := make([]byte, 1<<20)
	for range pieces {
		rng.Read(buf)
		if _, err := f.WriteAt(buf, int64(fromMiB+rng.Intn(sizeMiB-1-fromMiB))<<20); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(int64(sizeMiB) << 20); err != nil {
		t.Fatal(err)
	}
}
