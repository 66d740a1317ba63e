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
	"strings"
	"sync"
	"sync/atomic"
	"testing"

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
	w.Write(f.data[start : end+1])
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
