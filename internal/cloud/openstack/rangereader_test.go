package openstack

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/transfer"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
)

// fakeGlance serves one image file at /images/{id}/file with Range support (or without),
// failing the first request whose range covers an offset in fail500 with a 500, and cutting
// the first one whose range covers an offset in cut (after the bytes before it).
type fakeGlance struct {
	data     []byte
	noRange  bool
	mu       sync.Mutex
	fail500  map[int64]bool
	cut      map[int64]bool
	requests atomic.Int64
	served   atomic.Int64
	ranges   [][2]int64 // [start, end) of each range served whole
}

func (f *fakeGlance) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	if !strings.HasSuffix(r.URL.Path, "/file") {
		http.NotFound(w, r)
		return
	}
	rng := r.Header.Get("Range")
	if f.noRange || rng == "" {
		f.served.Add(int64(len(f.data)))
		w.Write(f.data)
		return
	}
	var start, end int64 = 0, -1
	if _, err := fmt.Sscanf(rng, "bytes=%d-%d", &start, &end); err != nil {
		end = int64(len(f.data)) - 1
	}
	end = min(end, int64(len(f.data))-1)
	covered := func(m map[int64]bool) (int64, bool) {
		for off := range m {
			if off >= start && off <= end {
				delete(m, off)
				return off, true
			}
		}
		return 0, false
	}
	f.mu.Lock()
	_, fail := covered(f.fail500)
	cutAt, cut := covered(f.cut)
	f.mu.Unlock()
	if fail {
		http.Error(w, "injected", 500)
		return
	}
	w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, len(f.data)))
	w.Header().Set("Content-Length", fmt.Sprint(end-start+1))
	w.WriteHeader(http.StatusPartialContent)
	if cut {
		f.served.Add(cutAt - start)
		w.Write(f.data[start:cutAt])
		panic(http.ErrAbortHandler) // drops the connection mid-body
	}
	f.served.Add(end - start + 1)
	f.mu.Lock()
	f.ranges = append(f.ranges, [2]int64{start, end + 1})
	f.mu.Unlock()
	w.Write(f.data[start : end+1])
}

// twice returns a byte range served more than once, if any.
func (f *fakeGlance) twice() (overlap [2]int64, ok bool) {
	f.mu.Lock()
	r := append([][2]int64(nil), f.ranges...)
	f.mu.Unlock()
	sort.Slice(r, func(i, j int) bool { return r[i][0] < r[j][0] })
	for i := 1; i < len(r); i++ {
		if r[i][0] < r[i-1][1] {
			return [2]int64{r[i][0], min(r[i][1], r[i-1][1])}, true
		}
	}
	return overlap, false
}

func newFake(t *testing.T, f *fakeGlance) (*gophercloud.ServiceClient, *images.Image) {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c := &gophercloud.ServiceClient{ProviderClient: &gophercloud.ProviderClient{HTTPClient: *srv.Client()},
		Endpoint: srv.URL + "/", ResourceBase: srv.URL + "/"}
	sum := sha512.Sum512(f.data)
	img := &images.Image{ID: "img", SizeBytes: int64(len(f.data)),
		Properties: map[string]any{"os_hash_algo": "sha512", "os_hash_value": hex.EncodeToString(sum[:])}}
	return c, img
}

func randomData(n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(1)).Read(b)
	return b
}

// TestRangeReaderReadsAndVerifies reads a 37 MiB file the way a converter does (several
// goroutines, forward, skipping some regions entirely): every read returns the file's bytes,
// a 500 is retried, a read-ahead run cut mid-body is retried from the block it was in,
// Verify hashes the skipped regions too and passes, and the file is fetched exactly once in
// all (the skipped regions by the read-ahead or for the hash alone).
func TestRangeReaderReadsAndVerifies(t *testing.T) {
	f := &fakeGlance{data: randomData(37<<20 + 12345), fail500: map[int64]bool{8 << 20: true},
		cut: map[int64]bool{26<<20 + 1000: true}}
	c, img := newFake(t, f)
	rr, err := OpenRange(context.Background(), c, img)
	if err != nil {
		t.Fatal(err)
	}
	// Readers skip blocks 3..4 (as a qcow2 reader skips refcount blocks); four workers take
	// 1 MiB pieces in turn.
	var pieces []int64
	for off := int64(0); off < int64(len(f.data)); off += 1 << 20 {
		if off >= 12<<20 && off < 20<<20 {
			continue
		}
		pieces = append(pieces, off)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1<<20)
			for {
				i := next.Add(1) - 1
				if i >= int64(len(pieces)) {
					return
				}
				off := pieces[i]
				n, err := rr.ReadAt(buf, off)
				if err != nil && !(err == io.EOF && off+int64(n) == int64(len(f.data))) {
					errs <- fmt.Errorf("ReadAt %d: %v", off, err)
					return
				}
				if !bytes.Equal(buf[:n], f.data[off:off+int64(n)]) {
					errs <- fmt.Errorf("ReadAt %d: wrong bytes", off)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	algo, err := rr.Verify()
	if err != nil || algo != "sha512" {
		t.Fatalf("Verify: %q %v", algo, err)
	}
	st := rr.Stats()
	if st.Retries != 2 {
		t.Errorf("retries = %d, want 2 (one injected 500, one cut)", st.Retries)
	}
	if st.HashFetched > 8<<20 {
		t.Errorf("fetched %d bytes for the hash alone, more than the 8 MiB no reader read", st.HashFetched)
	}
	if total := st.Fetched + st.HashFetched; total != int64(len(f.data)) {
		t.Errorf("fetched %d bytes in all for a %d-byte file: some twice or some never", total, len(f.data))
	}
	// The cut request sent the whole blocks before the cut, kept, and a partial one, fetched
	// again: that partial block is all the server sends beyond the file.
	if got, want := f.served.Load(), st.Fetched+st.HashFetched+(26<<20+1000)-(24<<20); got != want {
		t.Errorf("server sent %d bytes, want %d (the file once, plus the partial block of the cut)", got, want)
	}
	// 10 blocks of 4 MiB: the sequential read-ahead takes several per request.
	if st.Requests > 7 {
		t.Errorf("%d range requests for 10 blocks: the read-ahead does not fetch runs", st.Requests)
	}
}

// TestRangeReaderDetectsCorruption: a file whose bytes differ from what Glance hashed fails
// Verify, even when the corrupt byte is in a region no reader asked for.
func TestRangeReaderDetectsCorruption(t *testing.T) {
	f := &fakeGlance{data: randomData(10 << 20)}
	c, img := newFake(t, f)
	f.data = append([]byte(nil), f.data...)
	f.data[9<<20] ^= 1 // after the hash was taken; the reads below stop before it
	rr, err := OpenRange(context.Background(), c, img)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	if _, err := rr.ReadAt(buf, 2<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := rr.Verify(); err == nil || !strings.Contains(err.Error(), "Glance says") {
		t.Fatalf("Verify of a corrupt file: %v", err)
	}
}

// TestRangeReaderNoRange: a server that ignores Range is detected at open.
func TestRangeReaderNoRange(t *testing.T) {
	f := &fakeGlance{data: randomData(9 << 20), noRange: true}
	c, img := newFake(t, f)
	if _, err := OpenRange(context.Background(), c, img); !errors.Is(err, ErrNoRange) {
		t.Fatalf("OpenRange on a server without Range: %v", err)
	}
}

// TestRangeReaderOutliersFirst reads like the qcow2 reader at open (the header, then L2 tables
// spread over the file), then the whole file in order: the hash does not race ahead of the
// readers on account of the outliers, so every byte is fetched once.
func TestRangeReaderOutliersFirst(t *testing.T) {
	f := &fakeGlance{data: randomData(64 << 20)}
	c, img := newFake(t, f)
	rr, err := OpenRange(context.Background(), c, img)
	if err != nil {
		t.Fatal(err)
	}
	small := make([]byte, 64<<10)
	for _, off := range []int64{20 << 20, 40 << 20, 60 << 20} {
		if _, err := rr.ReadAt(small, off); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 1<<20)
	for off := int64(0); off < 64<<20; off += 1 << 20 {
		if _, err := rr.ReadAt(buf, off); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf, f.data[off:off+1<<20]) {
			t.Fatalf("wrong bytes at %d", off)
		}
	}
	if _, err := rr.Verify(); err != nil {
		t.Fatal(err)
	}
	if st := rr.Stats(); st.Fetched+st.HashFetched != 64<<20 {
		t.Fatalf("fetched %d + %d bytes for a 64 MiB file", st.Fetched, st.HashFetched)
	}
}

// lagging is a RangeReader whose callers are sometimes descheduled just before a read, as
// the converter's readers are on a loaded machine.
type lagging struct {
	*RangeReader
	mu  sync.Mutex
	rnd *rand.Rand
}

func (l *lagging) ReadAt(p []byte, off int64) (int, error) {
	l.mu.Lock()
	d, odds := time.Duration(0), 64 // a qcow2 reader reads a cluster at a time
	if len(p) >= 1<<20 {
		odds = 4
	}
	if l.rnd.Intn(odds) == 0 {
		d = time.Duration(100+l.rnd.Intn(200)) * time.Millisecond
	}
	l.mu.Unlock()
	time.Sleep(d)
	return l.RangeReader.ReadAt(p, off)
}

// TestBringHomeFetchesOnce brings a raw and a qcow2 image home from Glance through Range
// requests (transfer.FromRanged), with readers that lag now and then: the working copy is the
// disk's bytes and no byte range of the file is fetched twice; all of it is fetched once
// (the hash covers it). The capture benchmark fetched 741 MiB for a 647 MiB snapshot before.
func TestBringHomeFetchesOnce(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img not installed")
	}
	dir := t.TempDir()
	// A 1 GiB disk: 64 MiB of data at its start, then 2 MiB pieces scattered over it (every
	// L2 table of the qcow2 used); the rest holes.
	disk := filepath.Join(dir, "disk.raw")
	f, err := os.Create(disk)
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewSource(7))
	for i := int64(0); i < 44; i++ {
		off, n := i*(23<<20)+int64(rnd.Intn(1<<20))&^511, 2<<20
		if i == 0 {
			off, n = 0, 64<<20
		}
		b := make([]byte, n)
		rnd.Read(b)
		clear(b[1<<20 : 1<<20+64<<10]) // a zero cluster inside
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	qcow := filepath.Join(dir, "disk.qcow2")
	if out, err := exec.Command("qemu-img", "convert", "-f", "raw", "-O", "qcow2", disk, qcow).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v\n%s", err, out)
	}
	rawPart := filepath.Join(dir, "part.raw") // a raw image read through Range is all data: keep it small
	head := make([]byte, 96<<20)
	if f, err := os.Open(disk); err != nil {
		t.Fatal(err)
	} else if _, err := io.ReadFull(f, head); err != nil {
		t.Fatal(err)
	} else {
		f.Close()
	}
	if err := os.WriteFile(rawPart, head, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ format, path string }{{"raw", rawPart}, {"qcow2", qcow}} {
		t.Run(c.format, func(t *testing.T) {
			data, err := os.ReadFile(c.path)
			if err != nil {
				t.Fatal(err)
			}
			fg := &fakeGlance{data: data}
			cl, img := newFake(t, fg)
			rr, err := OpenRange(context.Background(), cl, img)
			if err != nil {
				t.Fatal(err)
			}
			src, err := transfer.OpenRanged(&lagging{RangeReader: rr, rnd: rand.New(rand.NewSource(1))}, c.format)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			out := filepath.Join(t.TempDir(), "work.raw")
			st, err := transfer.BringHome(context.Background(), out, 0o600, transfer.FromRanged(src), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Log(st)
			if out, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", c.format, out, c.path).CombinedOutput(); err != nil {
				t.Fatalf("the working copy differs from the image: %v\n%s", err, out)
			}
			if r, ok := fg.twice(); ok {
				t.Errorf("bytes %d-%d fetched twice", r[0], r[1]-1)
			}
			if got := fg.served.Load(); got != int64(len(data)) || st.Read != got {
				t.Errorf("served %d bytes (BringHome counted %d) of a %d-byte file", got, st.Read, len(data))
			}
		})
	}
}
