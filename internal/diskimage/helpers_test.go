package diskimage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// qemu-img is the oracle of these tests.
func needQemuImg(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img not installed (apt-get install qemu-utils)")
	}
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	// qemu-img's LUKS key-slot benchmark reads the thread's CPU time, which the kernel counts
	// in ticks: a benchmark round that no tick saw fails "Unable to get accurate CPU usage"
	// (seen on a loaded CI machine). Another try measures again.
	for try := 0; try < 4 && err != nil && strings.Contains(string(out), "Unable to get accurate CPU usage"); try++ {
		out, err = exec.Command(name, args...).CombinedOutput()
	}
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// seg is a piece of a generated raw image.
type seg struct {
	off, n int64
	kind   byte // 'r' random, 't' compressible text, 'z' written zeros, 'm' 4K random/zero mix
}

// makeRaw writes a sparse raw image of the given size with the segments and returns its path.
func makeRaw(t testing.TB, dir, name string, size int64, segs []seg, seed uint64) string {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 7}))
	text := []byte("chromogenic packer plugin: the quick brown fox jumps over the lazy dog 0123456789\n")
	for _, s := range segs {
		b := make([]byte, s.n)
		switch s.kind {
		case 'r':
			fillRandom(rng, b)
		case 't':
			for i := range b {
				b[i] = text[(i+int(s.off))%len(text)]
			}
		case 'm':
			fillRandom(rng, b)
			for i := int64(0); i < s.n; i++ {
				if ((s.off+i)/4096)%2 == 1 {
					b[i] = 0
				}
			}
		case 'z':
		}
		if _, err := f.WriteAt(b, s.off); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func fillRandom(rng *rand.Rand, b []byte) {
	for i := 0; i < len(b); i += 8 {
		v := rng.Uint64()
		for k := 0; k < 8 && i+k < len(b); k++ {
			b[i+k] = byte(v >> (8 * k))
		}
	}
}

// standardSegs is a layout with unaligned pieces, written zeros, a 4K data/zero mix and
// data up to an end that is not cluster aligned.
func standardSegs(size int64) []seg {
	const M = 1 << 20
	return []seg{
		{0, M, 'r'},
		{M + 512, 100000, 't'},
		{5 * M, M, 'z'},
		{6 * M, 4096, 'r'},
		{8*M - 1000, 2000, 'r'},
		{12 * M, 2*M + 777, 'm'},
		{16*M + 3, 3*M + 5, 't'},
		{size - 3000, 3000, 'r'},
	}
}

// sameContent compares two files byte for byte (both read in full: small files only).
func sameContent(t testing.TB, a, b string) {
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
	ba := make([]byte, 1<<20)
	bb := make([]byte, 1<<20)
	for off := int64(0); ; off += int64(len(ba)) {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			for i := 0; i < min(na, nb); i++ {
				if ba[i] != bb[i] {
					t.Fatalf("%s and %s differ at byte %d", a, b, off+int64(i))
				}
			}
			t.Fatalf("%s and %s differ in length near %d (%d vs %d)", a, b, off, na, nb)
		}
		if ea != nil || eb != nil {
			return
		}
	}
}

// nonZeroBlocks counts the bytes in 4 KiB blocks of the file holding a non-zero byte.
func nonZeroBlocks(t testing.TB, path string) int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for i := 0; i < len(data); i += 4096 {
		end := min(i+4096, len(data))
		if !bytes.Equal(data[i:end], zeros[:end-i]) {
			n += 4096
		}
	}
	return n
}

func allocated(t testing.TB, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Blocks * 512
}

// checkSparse fails unless path allocates between want and want+slack bytes.
func checkSparse(t testing.TB, path string, want, slack int64) {
	t.Helper()
	got := allocated(t, path)
	if got < want || got > want+slack {
		t.Errorf("%s allocates %d bytes, want %d (+%d)", path, got, want, slack)
	}
}

// writeRawFile opens src with Open and writes it with WriteRaw into a new file.
func writeRawFile(t testing.TB, src, dst string) Image {
	t.Helper()
	img, err := Open(src)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { img.Close() })
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := WriteRaw(context.Background(), f, img, nil); err != nil {
		t.Fatal(err)
	}
	return img
}

func qemuCompare(t testing.TB, fmtA, a, fmtB, b string) {
	t.Helper()
	out, err := exec.Command("qemu-img", "compare", "-f", fmtA, "-F", fmtB, a, b).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img compare %s %s: %v\n%s", a, b, err, out)
	}
}

func fmtSize(n int64) string { return fmt.Sprintf("%d", n) }

// checkAllocatedExactly fails unless the 4 KiB blocks of path that hold data on disk are
// exactly those that hold a non-zero byte: no zero block written, no data block missing.
// It reads the data extents (dataBlocks), not st_blocks, whose file-system metadata blocks
// come and go with the kernel's writeback.
func checkAllocatedExactly(t testing.TB, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	alloc := dataBlocks(t, path)
	var extra, missing []int
	for b := range alloc {
		end := min((b+1)*4096, len(data))
		nonZero := !IsZero(data[b*4096 : end])
		switch {
		case alloc[b] && !nonZero:
			extra = append(extra, b)
		case nonZero && !alloc[b]:
			missing = append(missing, b)
		}
	}
	if len(extra) > 0 || len(missing) > 0 {
		t.Errorf("%s: %d all-zero 4 KiB blocks allocated (first %v), %d non-zero blocks not allocated (first %v)",
			path, len(extra), extra[:min(len(extra), 5)], len(missing), missing[:min(len(missing), 5)])
	}
}
