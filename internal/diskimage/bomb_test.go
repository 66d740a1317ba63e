package diskimage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage/diskimagetest"
)

// boundedMemory runs fn and fails the test if the heap grows by more than limit bytes
// while it runs (sampled every 5 ms; the process is stopped at once, before the machine
// runs out of memory) or if fn allocates more than limit bytes in all (TotalAlloc).
func boundedMemory(t testing.TB, limit uint64, fn func()) {
	t.Helper()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	done := make(chan struct{})
	defer close(done)
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > base+limit {
				fmt.Fprintf(os.Stderr, "FAIL %s: heap grew by %d MiB, more than %d MiB\n", t.Name(), (v-base)>>20, limit>>20)
				os.Exit(1)
			}
		}
	}()
	fn()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > limit {
		t.Errorf("allocated %d MiB in all, more than %d MiB", d>>20, limit>>20)
	} else {
		t.Logf("allocated %.1f MiB in all", float64(d)/(1<<20))
	}
}

const (
	bombMem     = 64 << 20
	bombTimeout = 60 * time.Second
)

type bomb struct {
	format string
	size   uint64
	share  diskimagetest.Sharing
}

func (b bomb) make(t testing.TB, dir string) string {
	t.Helper()
	p := filepath.Join(dir, fmt.Sprintf("bomb-%d-%d.%s", b.size>>30, b.share, b.format))
	var err error
	if b.format == "qcow2" {
		err = diskimagetest.Qcow2(p, b.size, b.share, 'b')
	} else {
		err = diskimagetest.VMDK(p, b.size, 128, b.share, 'b')
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var shareNames = map[diskimagetest.Sharing]string{diskimagetest.SharedTables: "shared-tables", diskimagetest.SharedData: "shared-data", diskimagetest.Honest: "honest"}

// TestBombs: crafted qcow2 and VMDK images of 64 GiB and 16 TiB whose tables alternate data
// and holes. Shared tables are refused when the image is opened, shared data clusters or
// grains when the extent map is walked, both with an error naming the file; an honest
// sparse image converts. Each within 60 s and 64 MiB of heap.
func TestBombs(t *testing.T) {
	dir := t.TempDir()
	for _, format := range []string{"qcow2", "vmdk"} {
		for _, size := range []uint64{64 << 30, 16 << 40} {
			for _, share := range []diskimagetest.Sharing{diskimagetest.SharedTables, diskimagetest.SharedData, diskimagetest.Honest} {
				b := bomb{format, size, share}
				t.Run(fmt.Sprintf("%s-%dGiB-%s", format, size>>30, shareNames[share]), func(t *testing.T) {
					p := b.make(t, dir)
					ctx, cancel := context.WithTimeout(context.Background(), bombTimeout)
					defer cancel()
					boundedMemory(t, bombMem, func() {
						img, err := OpenFormat(p, "auto")
						if share == diskimagetest.SharedTables {
							if err == nil {
								// Opened: its extent map must still stay within the bound.
								_, xerr := img.Extents(ctx)
								img.Close()
								t.Errorf("extents after open: %v", xerr)
							}
							if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "share") {
								t.Fatalf("open = %v, want ErrCorrupt naming %s and the shared table", err, p)
							}
							return
						}
						if err != nil {
							t.Fatal(err)
						}
						defer img.Close()
						if img.Size() != int64(size) {
							t.Fatalf("size %d, want %d", img.Size(), size)
						}
						out := filepath.Join(dir, "out.qcow2")
						defer os.Remove(out)
						err = Convert(ctx, img, out, "qcow2", WriteOptions{})
						if share == diskimagetest.SharedData {
							if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "shared") {
								t.Fatalf("convert = %v, want ErrCorrupt naming %s and the shared data", err, p)
							}
							return
						}
						if err != nil {
							t.Fatalf("convert: %v", err)
						}
						// The output reads back as the input: the alternating start, and holes.
						o, err := OpenFormat(out, "qcow2")
						if err != nil {
							t.Fatal(err)
						}
						defer o.Close()
						for _, off := range []int64{0, 1 << 20, 4 << 20, int64(size) - 1<<20} {
							a, c := make([]byte, 1<<20), make([]byte, 1<<20)
							if _, err := img.ReadAt(a, off); err != nil {
								t.Fatal(err)
							}
							if _, err := o.ReadAt(c, off); err != nil {
								t.Fatal(err)
							}
							if !bytes.Equal(a, c) {
								t.Fatalf("output differs from input at %d", off)
							}
							if off == 0 && bytes.Count(a, []byte{'b'}) == 0 {
								t.Fatal("no data at 0: the test image is wrong")
							}
						}
					})
					if ctx.Err() != nil {
						t.Errorf("took more than %v", bombTimeout)
					}
				})
			}
		}
	}
}

// TestVirtualSizeCap: a header claiming more than MaxVirtualSize is refused with ErrTooLarge
// naming the file, before any table is read.
func TestVirtualSizeCap(t *testing.T) {
	dir := t.TempDir()
	for _, format := range []string{"qcow2", "vmdk"} {
		p := bomb{format, uint64(MaxVirtualSize) + 1<<30, diskimagetest.Honest}.make(t, dir)
		_, err := Open(p)
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want ErrTooLarge naming the file", format, err)
		}
	}
}

// TestExtentsCoarsened: past maxExtents entries the extent map is coarsened, not refused:
// it stays within the bound, covers the disk, and a conversion through it writes the same
// bytes as through the exact map.
func TestExtentsCoarsened(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "frag.qcow2")
	if err := diskimagetest.Qcow2(p, 64<<20, diskimagetest.Honest, 'f'); err != nil {
		t.Fatal(err)
	}
	img, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	exact, err := img.Extents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	exactOut := filepath.Join(dir, "exact.raw")
	if err := Convert(context.Background(), img, exactOut, "raw", WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	defer func(m int) { maxExtents = m }(maxExtents)
	maxExtents = 64
	coarse, err := img.Extents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckExtents(coarse, img.Size()); err != nil {
		t.Fatal(err)
	}
	if len(exact) <= 64 || len(coarse) > 64 {
		t.Fatalf("exact map %d extents, coarse %d: want more than 64, then at most 64", len(exact), len(coarse))
	}
	// Every exact Data byte is Data in the coarse map.
	for _, e := range exact {
		if e.Kind != Data {
			continue
		}
		for _, c := range coarse {
			if c.Offset < e.Offset+e.Length && e.Offset < c.Offset+c.Length && c.Kind != Data {
				t.Fatalf("data %v lost in coarse extent %v", e, c)
			}
		}
	}
	coarseOut := filepath.Join(dir, "coarse.raw")
	if err := Convert(context.Background(), img, coarseOut, "raw", WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(exactOut)
	b, _ := os.ReadFile(coarseOut)
	if !bytes.Equal(a, b) {
		t.Fatal("conversion through the coarse map differs")
	}
}
