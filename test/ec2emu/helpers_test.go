package ec2emu_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	ebstypes "github.com/aws/aws-sdk-go-v2/service/ebs/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

const blockSize = ec2emu.BlockSize

type clients struct {
	ec2 *ec2.Client
	ebs *ebs.Client
	s3  *s3.Client
}

// fastRetryer is the SDK's standard retryer with test-sized backoff.
func fastRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxBackoff = 20 * time.Millisecond
		o.MaxAttempts = 5
	})
}

func newClients(srv *ec2emu.Server) clients {
	cfg := srv.AWSConfig()
	cfg.Retryer = fastRetryer
	c := clients{
		ec2: ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(srv.EC2Endpoint) }),
		s3: s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.BaseEndpoint = aws.String(srv.S3Endpoint)
			o.UsePathStyle = true
		}),
	}
	if srv.EBSEndpoint != "" {
		c.ebs = ebs.NewFromConfig(cfg, func(o *ebs.Options) { o.BaseEndpoint = aws.String(srv.EBSEndpoint) })
	}
	return c
}

func errorsAs(err error, target any) bool { return err != nil && errors.As(err, target) }

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// makeDisk writes a sparse raw disk of size bytes with random data in a few regions
// (including a partial last block), returning its path.
func makeDisk(t *testing.T, dir string, size int64, seed int64) string {
	t.Helper()
	p := filepath.Join(dir, fmt.Sprintf("disk-%d.raw", seed))
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(seed))
	for _, off := range []int64{0, 3*blockSize + 1000, 17 * blockSize, size/2 + 12345, size - 700} {
		if off < 0 || off >= size {
			continue
		}
		n := int64(blockSize + 4096)
		if off+n > size {
			n = size - off
		}
		buf := make([]byte, n)
		rng.Read(buf)
		if _, err := f.WriteAt(buf, off); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func fileSHA(t *testing.T, path string, size int64) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	var r io.Reader = f
	if size >= 0 {
		r = io.LimitReader(f, size)
	}
	if _, err := io.Copy(h, r); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func b64sha(b []byte) string {
	s := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

// ebsUpload writes a raw file into a new snapshot through the EBS direct API, skipping zero
// blocks, and returns the snapshot id and the number of blocks sent.
func ebsUpload(t *testing.T, ctx context.Context, c *ebs.Client, path string, workers int) (string, int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	size := st.Size()
	gib := int64(1) << 30
	start, err := c.StartSnapshot(ctx, &ebs.StartSnapshotInput{VolumeSize: aws.Int64((size + gib - 1) / gib), Timeout: aws.Int32(10), Description: aws.String("ebsUpload " + filepath.Base(path))})
	if err != nil {
		t.Fatalf("StartSnapshot: %v", err)
	}
	if aws.ToInt32(start.BlockSize) != blockSize || start.Status != ebstypes.StatusPending {
		t.Fatalf("StartSnapshot: block size %d status %s", aws.ToInt32(start.BlockSize), start.Status)
	}
	id := aws.ToString(start.SnapshotId)
	nblocks := (size + blockSize - 1) / blockSize
	sums := make([][]byte, nblocks)
	var mu sync.Mutex
	var firstErr error
	next := int64(0)
	var wg sync.WaitGroup
	zero := make([]byte, blockSize)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, blockSize)
			for {
				mu.Lock()
				i := next
				next++
				stop := firstErr != nil
				mu.Unlock()
				if i >= nblocks || stop {
					return
				}
				n, err := f.ReadAt(buf, i*blockSize)
				if err != nil && err != io.EOF {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				clear(buf[n:])
				if bytes.Equal(buf, zero) {
					continue
				}
				sum := sha256.Sum256(buf)
				_, err = c.PutSnapshotBlock(ctx, &ebs.PutSnapshotBlockInput{
					SnapshotId: aws.String(id), BlockIndex: aws.Int32(int32(i)), BlockData: bytes.NewReader(buf),
					DataLength: aws.Int32(blockSize), Checksum: aws.String(base64.StdEncoding.EncodeToString(sum[:])),
					ChecksumAlgorithm: ebstypes.ChecksumAlgorithmChecksumAlgorithmSha256,
				})
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("PutSnapshotBlock %d: %w", i, err)
				}
				sums[i] = sum[:]
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	var cat []byte
	count := 0
	for _, s := range sums {
		if s != nil {
			cat = append(cat, s...)
			count++
		}
	}
	agg := sha256.Sum256(cat)
	out, err := c.CompleteSnapshot(ctx, &ebs.CompleteSnapshotInput{SnapshotId: aws.String(id), ChangedBlocksCount: aws.Int32(int32(count)),
		Checksum: aws.String(base64.StdEncoding.EncodeToString(agg[:])), ChecksumAlgorithm: ebstypes.ChecksumAlgorithmChecksumAlgorithmSha256,
		ChecksumAggregationMethod: ebstypes.ChecksumAggregationMethodChecksumAggregationLinear})
	if err != nil {
		t.Fatalf("CompleteSnapshot: %v", err)
	}
	if out.Status == "" {
		t.Fatal("CompleteSnapshot: no status")
	}
	return id, count
}

// ebsDownload reads a snapshot through ListSnapshotBlocks/GetSnapshotBlock into a sparse
// file of size bytes, verifying every block's SHA-256; it returns the block count.
func ebsDownload(t *testing.T, ctx context.Context, c *ebs.Client, id, path string, size int64, pageSize int32) int {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	var blocks []ebstypes.Block
	pages := 0
	p := ebs.NewListSnapshotBlocksPaginator(c, &ebs.ListSnapshotBlocksInput{SnapshotId: aws.String(id), MaxResults: aws.Int32(pageSize)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListSnapshotBlocks: %v", err)
		}
		pages++
		if aws.ToInt32(out.BlockSize) != blockSize || out.VolumeSize == nil || out.ExpiryTime == nil {
			t.Fatalf("ListSnapshotBlocks: incomplete page %+v", out)
		}
		blocks = append(blocks, out.Blocks...)
	}
	if !sort.SliceIsSorted(blocks, func(a, b int) bool { return *blocks[a].BlockIndex < *blocks[b].BlockIndex }) {
		t.Fatal("ListSnapshotBlocks: blocks not in index order")
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(blocks))
	sem := make(chan struct{}, 16)
	for _, b := range blocks {
		wg.Add(1)
		sem <- struct{}{}
		go func(b ebstypes.Block) {
			defer wg.Done()
			defer func() { <-sem }()
			out, err := c.GetSnapshotBlock(ctx, &ebs.GetSnapshotBlockInput{SnapshotId: aws.String(id), BlockIndex: b.BlockIndex, BlockToken: b.BlockToken})
			if err != nil {
				errs <- err
				return
			}
			defer out.BlockData.Close()
			data, err := io.ReadAll(out.BlockData)
			if err != nil {
				errs <- err
				return
			}
			if len(data) != int(aws.ToInt32(out.DataLength)) || out.ChecksumAlgorithm != ebstypes.ChecksumAlgorithmChecksumAlgorithmSha256 || b64sha(data) != aws.ToString(out.Checksum) {
				errs <- fmt.Errorf("block %d: bad length/checksum", *b.BlockIndex)
				return
			}
			off := int64(*b.BlockIndex) * blockSize
			if off+int64(len(data)) > size {
				data = data[:size-off]
			}
			if _, err := f.WriteAt(data, off); err != nil {
				errs <- err
			}
		}(b)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("GetSnapshotBlock: %v", err)
	}
	return len(blocks)
}

// nonZeroBlocks lists the indexes of a raw file's non-zero 512 KiB blocks, skipping holes.
func nonZeroBlocks(t *testing.T, f *os.File, size int64) map[int32]bool {
	t.Helper()
	out := map[int32]bool{}
	buf := make([]byte, blockSize)
	zero := make([]byte, blockSize)
	for pos := int64(0); pos < size; pos += blockSize {
		d, err := f.Seek(pos, 3) // SEEK_DATA
		if err != nil || d >= size {
			break
		}
		pos = d / blockSize * blockSize
		n, err := f.ReadAt(buf, pos)
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		clear(buf[n:])
		if !bytes.Equal(buf, zero) {
			out[int32(pos/blockSize)] = true
		}
	}
	return out
}

// ebsVerify reads every block of a snapshot through the EBS direct API (verifying the
// SHA-256 the API returns) and compares it with the same block of a local raw file; the
// snapshot must hold exactly the file's non-zero blocks. It returns the block count.
func ebsVerify(t *testing.T, ctx context.Context, c *ebs.Client, id, path string, pageSize int32) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	want := nonZeroBlocks(t, f, st.Size())
	var blocks []ebstypes.Block
	p := ebs.NewListSnapshotBlocksPaginator(c, &ebs.ListSnapshotBlocksInput{SnapshotId: aws.String(id), MaxResults: aws.Int32(pageSize)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListSnapshotBlocks: %v", err)
		}
		blocks = append(blocks, out.Blocks...)
	}
	if len(blocks) != len(want) {
		t.Fatalf("snapshot lists %d blocks, file has %d non-zero blocks", len(blocks), len(want))
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(blocks))
	sem := make(chan struct{}, 16)
	for _, b := range blocks {
		if !want[*b.BlockIndex] {
			t.Fatalf("block %d is listed but zero in the file", *b.BlockIndex)
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(b ebstypes.Block) {
			defer wg.Done()
			defer func() { <-sem }()
			out, err := c.GetSnapshotBlock(ctx, &ebs.GetSnapshotBlockInput{SnapshotId: aws.String(id), BlockIndex: b.BlockIndex, BlockToken: b.BlockToken})
			if err != nil {
				errs <- err
				return
			}
			defer out.BlockData.Close()
			data, err := io.ReadAll(out.BlockData)
			if err != nil {
				errs <- err
				return
			}
			if b64sha(data) != aws.ToString(out.Checksum) {
				errs <- fmt.Errorf("block %d: checksum mismatch", *b.BlockIndex)
				return
			}
			local := make([]byte, blockSize)
			n, _ := f.ReadAt(local, int64(*b.BlockIndex)*blockSize)
			clear(local[n:])
			if !bytes.Equal(local, data) {
				errs <- fmt.Errorf("block %d differs from the file", *b.BlockIndex)
			}
		}(b)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return len(blocks)
}

// unsetFields lists the exported fields of an SDK output value (recursively through
// structs, pointers and the first element of slices) that are still zero after
// deserialization: they were either not sent by the emulator or not parsed by the SDK.
func unsetFields(v any) []string {
	var out []string
	var walk func(prefix string, rv reflect.Value, depth int)
	walk = func(prefix string, rv reflect.Value, depth int) {
		if depth > 6 {
			return
		}
		for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
			if rv.IsNil() {
				return
			}
			rv = rv.Elem()
		}
		if rv.Kind() != reflect.Struct {
			return
		}
		rt := rv.Type()
		for i := 0; i < rt.NumField(); i++ {
			f := rt.Field(i)
			if !f.IsExported() || f.Name == "ResultMetadata" {
				continue
			}
			fv := rv.Field(i)
			name := prefix + f.Name
			if fv.IsZero() {
				out = append(out, name)
				continue
			}
			switch fv.Kind() {
			case reflect.Slice:
				if fv.Len() > 0 {
					walk(name+"[0].", fv.Index(0), depth+1)
				}
			case reflect.Pointer, reflect.Struct:
				walk(name+".", fv, depth+1)
			}
		}
	}
	walk("", reflect.ValueOf(v), 0)
	return out
}

// checkModel fails when a field outside notSent is unset.
func checkModel(t *testing.T, what string, v any, notSent ...string) {
	t.Helper()
	unset := unsetFields(v)
	allowed := map[string]bool{}
	for _, n := range notSent {
		allowed[n] = true
	}
	var missing []string
	for _, u := range unset {
		if !allowed[u] {
			missing = append(missing, u)
		}
		delete(allowed, u)
	}
	if len(missing) > 0 {
		t.Errorf("%s: SDK fields left empty: %s", what, strings.Join(missing, ", "))
	}
	if len(allowed) > 0 {
		var extra []string
		for k := range allowed {
			extra = append(extra, k)
		}
		sort.Strings(extra)
		t.Logf("%s: fields listed as not sent are set here: %s", what, strings.Join(extra, ", "))
	}
}
