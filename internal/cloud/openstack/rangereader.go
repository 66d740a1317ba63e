package openstack

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/transfer"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
)

// RangeReader reads a Glance image's data at random offsets through HTTP Range requests on
// /v2/images/{id}/file (Glance v2 answers them with 206), so a format reader that needs
// random access (qcow2: header, L1/L2 tables, then data clusters) reads the image in
// place, with no local copy of the download.
//
// Reads are served from aligned blocks (4 MiB) fetched on demand, deduplicated when several
// readers miss the same block, kept in a small cache (8 blocks, the lowest evicted first,
// plus up to 24 that wait for the hash). When access is sequential the blocks ahead are
// fetched in runs of up to 4 blocks, one request per run, each block published as its bytes
// arrive: each Glance request costs server CPU (token, policy and database checks) besides
// the data, and a quarter of the requests saved 1-1.5 s of Glance CPU on a 646 MiB image on
// the all-in-one cloud (docs/benchmarks.md). Failed range requests are retried (they are
// idempotent), a run from its first block not yet received.
//
// The cache evicts the blocks behind the readers: a reader that lags far behind the others
// makes a block be fetched again. transfer.FromRanged reads with one reader, in order, so
// that each byte is fetched once (TestBringHomeFetchesOnce).
//
// Hash verification: Glance's os_hash_value covers the whole file. The reader hashes
// blocks in file order as they arrive; blocks fetched ahead of the hash cursor stay cached
// until hashed, and a block no reader asked for (refcount tables, unreferenced clusters)
// is fetched for the hash alone once reads have moved past it. Verify hashes what remains
// of the file and compares, so the whole file is verified, and Stats says how many bytes
// the verification cost beyond what the reads needed. Nothing of what was read is trusted
// before Verify returns nil: a caller must treat its output as unverified until then.
type RangeReader struct {
	c    *gophercloud.ServiceClient
	url  string
	id   string
	size int64
	bs   int64
	ctx  context.Context

	mu       sync.Mutex
	blocks   map[int64]*rblock
	keep     int   // cached blocks kept beyond the unhashed ones
	lastRead int64 // last block a reader asked for, for the sequential read-ahead
	hashing  bool
	next     int64 // next block to hash
	stats    RangeStats

	h          hash.Hash
	algo, want string
}

type rblock struct {
	idx    int64
	data   []byte
	err    error
	done   chan struct{}
	hashed bool
}

// RangeStats counts what a RangeReader fetched.
type RangeStats = transfer.RangeStats

var _ transfer.RangedFile = (*RangeReader)(nil)

// ErrNoRange is returned when the server ignores the Range header.
var ErrNoRange = errors.New("the image service does not honour HTTP Range requests")

const (
	rangeBlock = 4 << 20
	rangeCache = 8
	// rangeUnhashed bounds the blocks kept only because the hash has not reached them.
	rangeUnhashed = 24
	rangeRetries  = 4
	// rangeRun is the most blocks one sequential read-ahead request fetches; a new run
	// starts when at most half of it is left ahead of the reader.
	rangeRun = 4
	// hashLag is how many fetched blocks may wait past a never-read block before it is
	// fetched for the hash alone.
	hashLag = 8
)

// OpenRange returns a RangeReader over img's data, checking with a first request that the
// server honours Range. ctx bounds every request the reader makes.
func OpenRange(ctx context.Context, c *gophercloud.ServiceClient, img *images.Image) (*RangeReader, error) {
	if img.SizeBytes <= 0 {
		return nil, fmt.Errorf("image %s has no data (size %d)", img.ID, img.SizeBytes)
	}
	r := &RangeReader{c: c, url: c.ServiceURL("images", img.ID, "file"), id: img.ID, size: img.SizeBytes,
		bs: rangeBlock, ctx: ctx, blocks: map[int64]*rblock{}, keep: rangeCache, lastRead: -2}
	r.algo, r.want = imageHash(img)
	r.h = hashFor(r.algo)
	if _, err := r.block(0, true); err != nil {
		return nil, err
	}
	return r, nil
}

// imageHash returns the hash Glance recorded for img: os_hash_algo/os_hash_value, or md5.
func imageHash(img *images.Image) (algo, want string) {
	if v, ok := img.Properties["os_hash_algo"].(string); ok {
		algo = v
		want, _ = img.Properties["os_hash_value"].(string)
	}
	if want == "" && img.Checksum != "" {
		algo, want = "md5", img.Checksum
	}
	return algo, strings.ToLower(want)
}

// Size is the size of the image file.
func (r *RangeReader) Size() int64 { return r.size }

// Stats returns the counters so far.
func (r *RangeReader) Stats() RangeStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Close drops the cache.
func (r *RangeReader) Close() error {
	r.mu.Lock()
	r.blocks = map[int64]*rblock{}
	r.mu.Unlock()
	return nil
}

// ReadAt implements io.ReaderAt. It is safe for concurrent use.
func (r *RangeReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= r.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && off < r.size {
		idx := off / r.bs
		data, err := r.block(idx, true)
		if err != nil {
			return n, err
		}
		c := copy(p[n:], data[off-idx*r.bs:])
		n += c
		off += int64(c)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// block returns block idx, fetching it if needed. forReader says a reader asked for it (as
// opposed to the hash or the read-ahead).
func (r *RangeReader) block(idx int64, forReader bool) ([]byte, error) {
	r.mu.Lock()
	b, ok := r.blocks[idx]
	if !ok {
		b = &rblock{idx: idx, done: make(chan struct{})}
		r.blocks[idx] = b
	}
	var run []*rblock
	if forReader {
		if idx == r.lastRead+1 {
			run = r.planRun(idx, !ok)
		}
		r.lastRead = idx
	}
	r.mu.Unlock()
	switch {
	case len(run) > 0:
		// With b missing, the run starts with b: this reader waits for its bytes only.
		go r.fillRun(run)
	case !ok:
		r.fillRun([]*rblock{b})
	}
	<-b.done
	if b.err != nil {
		return nil, b.err
	}
	return b.data, nil
}

// planRun (r.mu held) registers the blocks a sequential read of block idx fetches ahead in
// one request: nothing while more than half of the rangeRun blocks after idx are cached or
// in flight, else the run of missing blocks from the first missing one, up to rangeRun
// blocks. With self, block idx itself is missing (just registered): the run starts with it.
func (r *RangeReader) planRun(idx int64, self bool) []*rblock {
	last := (r.size - 1) / r.bs
	var run []*rblock
	from := idx + 1
	if self {
		run, from = append(run, r.blocks[idx]), idx+1
	} else {
		have := 0
		for j := idx + 1; j <= min(idx+rangeRun, last); j++ {
			if _, ok := r.blocks[j]; ok {
				have++
			}
		}
		if have > rangeRun/2 {
			return nil
		}
		for from <= last {
			if _, ok := r.blocks[from]; !ok {
				break
			}
			from++
		}
	}
	for j := from; j <= last && len(run) < rangeRun; j++ {
		if _, ok := r.blocks[j]; ok {
			break
		}
		b := &rblock{idx: j, done: make(chan struct{})}
		r.blocks[j] = b
		run = append(run, b)
	}
	return run
}

// fillRun fetches a run of consecutive blocks in one request, publishing each block as it
// arrives (then advancing the hash and trimming the cache). A failed request is retried
// from the first block not yet received; blocks that cannot be fetched fail their readers
// and leave the cache, so that a later read tries again.
func (r *RangeReader) fillRun(run []*rblock) {
	var last error
	for attempt := 0; len(run) > 0; attempt++ {
		if attempt > 0 {
			if attempt > rangeRetries || r.ctx.Err() != nil || !retryableRange(last) {
				break
			}
			r.mu.Lock()
			r.stats.Retries++
			r.mu.Unlock()
			select {
			case <-r.ctx.Done():
				last = r.ctx.Err()
				attempt = rangeRetries
				continue
			case <-time.After(time.Duration(attempt*attempt) * 250 * time.Millisecond):
			}
		}
		done, err := r.getRun(run)
		run = run[done:]
		if err == nil {
			return
		}
		last = err
	}
	if len(run) == 0 {
		return
	}
	off, end := run[0].idx*r.bs, min((run[len(run)-1].idx+1)*r.bs, r.size)
	err := fmt.Errorf("image %s: read bytes %d-%d: %w", r.id, off, end-1, last)
	r.mu.Lock()
	for _, b := range run {
		b.err = err
		delete(r.blocks, b.idx)
		close(b.done)
	}
	r.mu.Unlock()
}

// getRun requests the bytes of run and publishes its blocks in order as they arrive. It
// returns how many it published.
func (r *RangeReader) getRun(run []*rblock) (int, error) {
	off, end := run[0].idx*r.bs, min((run[len(run)-1].idx+1)*r.bs, r.size)
	body, err := r.open(off, end-off)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	r.mu.Lock()
	r.stats.Requests++
	r.mu.Unlock()
	for i, b := range run {
		data := make([]byte, min(r.bs, r.size-b.idx*r.bs))
		if _, err := io.ReadFull(body, data); err != nil {
			return i, fmt.Errorf("short range body: %w", err)
		}
		r.mu.Lock()
		b.data = data
		r.stats.Fetched += int64(len(data))
		close(b.done)
		r.mu.Unlock()
		r.advanceHash()
	}
	return len(run), nil
}

// fetch GETs [off, off+n) of the image, retrying transient failures.
func (r *RangeReader) fetch(off, n int64) ([]byte, error) {
	var last error
	for attempt := 0; attempt <= rangeRetries; attempt++ {
		if attempt > 0 {
			r.mu.Lock()
			r.stats.Retries++
			r.mu.Unlock()
			select {
			case <-r.ctx.Done():
				return nil, r.ctx.Err()
			case <-time.After(time.Duration(attempt*attempt) * 250 * time.Millisecond):
			}
		}
		data, err := r.get(off, n)
		if err == nil {
			r.mu.Lock()
			r.stats.Requests++
			r.mu.Unlock()
			return data, nil
		}
		last = err
		if r.ctx.Err() != nil || !retryableRange(err) {
			break
		}
	}
	return nil, fmt.Errorf("image %s: read bytes %d-%d: %w", r.id, off, off+n-1, last)
}

func retryableRange(err error) bool {
	if errors.Is(err, ErrNoRange) {
		return false
	}
	var ue gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &ue) {
		return ue.Actual >= 500 || ue.Actual == 429 || ue.Actual == 408
	}
	return true // connection reset, short body...
}

func (r *RangeReader) get(off, n int64) ([]byte, error) {
	body, err := r.open(off, n)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	buf := make([]byte, n)
	if _, err := io.ReadFull(body, buf); err != nil {
		return nil, fmt.Errorf("short range body: %w", err)
	}
	return buf, nil
}

// open requests [off, off+n) of the image and checks that the answer is that range.
func (r *RangeReader) open(off, n int64) (io.ReadCloser, error) {
	resp, err := r.c.Get(r.ctx, r.url, nil, &gophercloud.RequestOpts{
		MoreHeaders:      map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", off, off+n-1)},
		OkCodes:          []int{http.StatusOK, http.StatusPartialContent},
		KeepResponseBody: true,
	})
	if err != nil {
		return nil, err
	}
	fail := func(err error) (io.ReadCloser, error) {
		resp.Body.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusPartialContent {
		// A 200 carries the whole file from byte 0: only acceptable if that is what we asked.
		if !(off == 0 && n == r.size) {
			return fail(fmt.Errorf("%w (GET %s with Range answered %d)", ErrNoRange, r.url, resp.StatusCode))
		}
	} else if cr := resp.Header.Get("Content-Range"); cr != "" {
		want := fmt.Sprintf("bytes %d-%d/", off, off+n-1)
		if !strings.HasPrefix(cr, want) {
			return fail(fmt.Errorf("asked for %s, got Content-Range %q", strings.TrimSuffix(want, "/"), cr))
		}
		if total, err := strconv.ParseInt(cr[len(want):], 10, 64); err == nil && total != r.size {
			return fail(fmt.Errorf("image file is %d bytes, Glance said %d", total, r.size))
		}
	}
	return resp.Body, nil
}

// advanceHash hashes the blocks at the hash cursor that are available, in order, from
// whichever goroutine gets here first; it fetches a block no reader wanted once readers are
// hashLag blocks past it. Then it trims the cache.
func (r *RangeReader) advanceHash() {
	r.mu.Lock()
	if r.hashing || r.h == nil {
		r.trim()
		r.mu.Unlock()
		return
	}
	r.hashing = true
	for {
		b := r.blocks[r.next]
		if b == nil && r.waiting() >= hashLag {
			// Nobody read this block and readers have moved well past it: fetch it for
			// the hash (readers that want it meanwhile share the fetch).
			b = &rblock{idx: r.next, done: make(chan struct{})}
			r.blocks[r.next] = b
			r.mu.Unlock()
			start := b.idx * r.bs
			n := min(r.bs, r.size-start)
			data, err := r.fetch(start, n)
			r.mu.Lock()
			b.data, b.err = data, err
			if err != nil {
				delete(r.blocks, b.idx)
			} else {
				r.stats.HashFetched += n
			}
			close(b.done)
			if err != nil {
				break // Verify will try again
			}
		}
		if b == nil || !isDone(b) || b.err != nil {
			break
		}
		data := b.data
		r.mu.Unlock()
		r.h.Write(data)
		r.mu.Lock()
		b.hashed = true
		r.next++
	}
	r.hashing = false
	r.trim()
	r.mu.Unlock()
}

// waiting counts the fetched blocks past the hash cursor, which wait for it. A few outliers
// (the qcow2 L2 tables a reader reads at open, spread over the file) do not count as
// "readers moved past the cursor": only a run of hashLag of them does, so the hash never
// races ahead of the readers and downloads the file twice.
func (r *RangeReader) waiting() int {
	n := 0
	for _, b := range r.blocks {
		if b.idx > r.next && !b.hashed && isDone(b) && b.err == nil {
			n++
		}
	}
	return n
}

func isDone(b *rblock) bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// trim evicts the lowest blocks that are hashed (or need no hash) and not in
// flight, down to keep of them. Unhashed blocks ahead of the cursor stay, since the cursor
// reaches them soon when readers move forward, but at most rangeUnhashed of them: beyond
// that the ones furthest from the cursor go (and are fetched again for the hash).
func (r *RangeReader) trim() {
	var hashed, unhashed []*rblock
	for _, b := range r.blocks {
		switch {
		case !isDone(b):
		case b.hashed || r.h == nil || b.idx < r.next:
			hashed = append(hashed, b)
		default:
			unhashed = append(unhashed, b)
		}
	}
	if len(hashed) > r.keep {
		// Readers move forward: the blocks furthest behind go first. (Least recently used
		// would drop a block read early, like a qcow2 L2 table at open, just before the
		// readers reach its data.)
		sort.Slice(hashed, func(i, j int) bool { return hashed[i].idx < hashed[j].idx })
		for _, b := range hashed[:len(hashed)-r.keep] {
			delete(r.blocks, b.idx)
		}
	}
	if len(unhashed) > rangeUnhashed {
		sort.Slice(unhashed, func(i, j int) bool { return unhashed[i].idx < unhashed[j].idx })
		for _, b := range unhashed[rangeUnhashed:] {
			delete(r.blocks, b.idx)
		}
	}
}

// Verify completes the hash over the rest of the file (cached blocks, and one streamed
// request per run of blocks not in the cache) and compares it with Glance's os_hash_value
// (or checksum). Call it after the last ReadAt. It returns the algorithm verified, or ""
// when Glance recorded no usable hash.
func (r *RangeReader) Verify() (string, error) {
	if r.h == nil || r.want == "" {
		return "", nil
	}
	// Take the hash over from any goroutine still advancing it (a read-ahead may be in
	// flight) and keep it: nothing hashes after Verify.
	r.mu.Lock()
	for r.hashing {
		r.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
		r.mu.Lock()
	}
	r.hashing = true
	last := (r.size + r.bs - 1) / r.bs // number of blocks
	for r.next < last {
		if b := r.blocks[r.next]; b != nil && isDone(b) && b.err == nil {
			r.h.Write(b.data)
			b.hashed = true
			r.next++
			continue
		}
		// Stream the run of blocks not in the cache in one request.
		end := r.next + 1
		for end < last {
			if b := r.blocks[end]; b != nil && isDone(b) && b.err == nil {
				break
			}
			end++
		}
		off, stop := r.next*r.bs, min(end*r.bs, r.size)
		r.mu.Unlock()
		err := r.streamHash(off, stop)
		r.mu.Lock()
		if err != nil {
			r.mu.Unlock()
			return r.algo, err
		}
		r.stats.HashFetched += stop - off
		r.next = end
	}
	got := fmt.Sprintf("%x", r.h.Sum(nil))
	r.mu.Unlock()
	if got != r.want {
		return r.algo, fmt.Errorf("image %s: %s of the data read is %s, Glance says %s", r.id, r.algo, got, r.want)
	}
	return r.algo, nil
}

func (r *RangeReader) streamHash(off, end int64) error {
	resp, err := r.c.Get(r.ctx, r.url, nil, &gophercloud.RequestOpts{
		MoreHeaders:      map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", off, end-1)},
		OkCodes:          []int{http.StatusPartialContent},
		KeepResponseBody: true,
	})
	if err != nil {
		return fmt.Errorf("image %s: read bytes %d-%d for the hash: %w", r.id, off, end-1, err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(r.h, io.LimitReader(resp.Body, end-off))
	if err == nil && n != end-off {
		err = fmt.Errorf("image %s: hash read of bytes %d-%d ended after %d bytes", r.id, off, end-1, n)
	}
	return err
}
