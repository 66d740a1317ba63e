package ec2

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	ebstypes "github.com/aws/aws-sdk-go-v2/service/ebs/types"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
)

// Range is a byte range [Offset, Offset+Length) of a disk that may hold data.
type Range struct {
	Offset, Length int64
}

// UploadOptions describe a new snapshot written through the EBS direct API.
type UploadOptions struct {
	TransferOptions
	Description string
	Tags        map[string]string
	// Timeout is how long AWS keeps the snapshot open for writes (default 60 minutes).
	Timeout time.Duration
	// WaitTimeout bounds the wait for the snapshot to become completed (default 30 minutes).
	WaitTimeout time.Duration
	// Encrypted makes an encrypted snapshot, with the KMS key KMSKeyARN (a key ARN; empty:
	// the account's default EBS key).
	Encrypted bool
	KMSKeyARN string

	// ParentSnapshotID makes a delta push (StartSnapshot's ParentSnapshotId): the new snapshot
	// starts as the parent's blocks, and only the blocks whose SHA-256 differs from Base (the
	// block map of what the parent holds) are written, zeros included, as a block of zeros
	// must replace the parent's data there (only a block that is zero on both sides is left
	// out). The snapshot inherits the parent's encryption and key: Encrypted and KMSKeyARN
	// must agree with the parent's (checkParent), they are not sent. Base is required.
	ParentSnapshotID string
	Base             *provenance.BlockMap
	// Current, with a delta push, is the block map of src as it is now (the caller has made
	// sure of it: its stamp matches the file). Then only the blocks where Current and Base
	// differ are read, each checked against Current before it is sent; without it every
	// block with data is read and hashed to find them.
	Current *provenance.BlockMap
}

// UploadSnapshot writes a raw disk image of size bytes into a new EBS snapshot through the EBS
// direct API and waits until the snapshot is completed. Only the blocks overlapping data
// (nil: the whole disk) are read; all-zero blocks are not sent. Each block carries its SHA-256,
// and the snapshot is completed with the LINEAR aggregate of them, so AWS checks the whole.
// On any failure the snapshot is deleted; nothing is left behind.
func UploadSnapshot(ctx context.Context, cl *Clients, src io.ReaderAt, size int64, data []Range, o UploadOptions) (string, TransferStats, error) {
	st := TransferStats{VolumeSize: size}
	if !cl.HasEBSDirect {
		return "", st, errors.New("this cloud has no EBS direct API")
	}
	if size <= 0 {
		return "", st, errors.New("empty image")
	}
	gib := (size + GiB - 1) / GiB
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = time.Hour
	}
	in := &ebs.StartSnapshotInput{
		VolumeSize:  aws.Int64(gib),
		Timeout:     aws.Int32(int32(max(timeout/time.Minute, 10))),
		ClientToken: aws.String(fmt.Sprintf("chromogenic-%d", time.Now().UnixNano())),
	}
	if o.Description != "" {
		in.Description = aws.String(o.Description)
	}
	for _, k := range sortedKeys(o.Tags) {
		in.Tags = append(in.Tags, ebstypes.Tag{Key: aws.String(k), Value: aws.String(o.Tags[k])})
	}
	// Encryption ("Encryption outcomes for EBS direct APIs", AWS EBS User Guide): with no
	// parent snapshot, Encrypted=true encrypts with KmsKeyArn, or with the account's default
	// EBS key when it is omitted; a KmsKeyArn without Encrypted=true, or Encrypted with a
	// ParentSnapshotId, fails with ValidationException (so no parent is ever sent here). With
	// encryption by default on, every new snapshot is encrypted whatever is asked. AWS
	// documents no rule that the blocks of an encrypted snapshot must all be written: as for
	// any snapshot, a block never written is read as zeros by the volumes made from it, so the
	// all-zero blocks are left out here as well (ChangedBlocksCount counts the blocks sent).
	//
	// A delta push (ParentSnapshotId) sends neither: the child is encrypted exactly as the
	// parent, with its key ("Encryption outcomes: Encrypted parent snapshot"; an unencrypted
	// parent with encryption by default on is refused). checkParent has made sure that is
	// what was asked, else the push is a full one.
	if o.ParentSnapshotID != "" {
		if o.Base == nil || o.Base.BlockSize != BlockSize {
			return "", st, &BaseError{errors.New("a delta push needs the block map of its parent")}
		}
		if err := checkParent(ctx, cl, o.ParentSnapshotID, gib, o); err != nil {
			return "", st, err
		}
		in.ParentSnapshotId = aws.String(o.ParentSnapshotID)
	} else if o.Encrypted {
		in.Encrypted = aws.Bool(true)
		if o.KMSKeyARN != "" {
			in.KmsKeyArn = aws.String(o.KMSKeyARN)
		}
	}
	out, err := cl.EBS.StartSnapshot(ctx, in)
	if err != nil {
		if o.ParentSnapshotID != "" && APICode(err) == "ValidationException" {
			return "", st, &BaseError{fmt.Errorf("StartSnapshot with parent %s: %w", o.ParentSnapshotID, err)}
		}
		return "", st, fmt.Errorf("StartSnapshot: %w", err)
	}
	id := aws.ToString(out.SnapshotId)
	bs := int64(aws.ToInt32(out.BlockSize))
	if bs <= 0 {
		bs = BlockSize
	}
	st, err = putBlocks(ctx, cl.EBS, id, src, size, bs, data, o)
	if err == nil {
		err = waitSnapshot(ctx, cl.EC2, id, o.WaitTimeout)
	}
	if err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if derr := DeleteSnapshot(dctx, cl.EC2, id); derr != nil {
			err = fmt.Errorf("%w (and deleting the unfinished snapshot %s failed: %v)", err, id, derr)
		}
		return "", st, err
	}
	return id, st, nil
}

// EBSWriter is the part of the EBS client an upload uses.
type EBSWriter interface {
	PutSnapshotBlock(ctx context.Context, in *ebs.PutSnapshotBlockInput, optFns ...func(*ebs.Options)) (*ebs.PutSnapshotBlockOutput, error)
	CompleteSnapshot(ctx context.Context, in *ebs.CompleteSnapshotInput, optFns ...func(*ebs.Options)) (*ebs.CompleteSnapshotOutput, error)
}

// blockIndexes lists the blocks overlapping data, in order, without duplicates.
func blockIndexes(size, bs int64, data []Range) []int64 {
	n := (size + bs - 1) / bs
	if data == nil {
		data = []Range{{0, size}}
	}
	var out []int64
	last := int64(-1)
	for _, r := range data {
		if r.Length <= 0 {
			continue
		}
		first := max(r.Offset/bs, last+1)
		end := min((r.Offset+r.Length+bs-1)/bs, n)
		for i := first; i < end; i++ {
			out = append(out, i)
			last = i
		}
	}
	return out
}

func putBlocks(ctx context.Context, c EBSWriter, id string, src io.ReaderAt, size, bs int64, data []Range, o UploadOptions) (TransferStats, error) {
	st := TransferStats{VolumeSize: size}
	idx := blockIndexes(size, bs, data)
	base := o.Base
	if o.ParentSnapshotID == "" {
		base = nil
	}
	cur := o.Current
	if base == nil || cur == nil || cur.Size != size || cur.BlockSize != bs || base.BlockSize != bs {
		cur = nil
	}
	if base != nil {
		// The blocks the parent holds data in are looked at too: where the image is now a
		// hole, zeros must be written over the parent's data.
		idx = unionBlocks(idx, base, (size+bs-1)/bs)
	}
	pushed := newMap("", size)
	if cur != nil {
		// Only the blocks whose hash differs from the parent's are read.
		copy(pushed.Blocks, cur.Blocks)
		idx = differing(cur, base)
	}
	sums := make([][]byte, len(idx))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		done, retries, sent atomic.Int64
		firstErr            error
		errOnce             sync.Once
		wg                  sync.WaitGroup
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	total := int64(len(idx)) * bs
	work := make(chan int)
	for range min(o.workers(), max(len(idx), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, bs)
			for k := range work {
				i := idx[k]
				off := i * bs
				n, err := src.ReadAt(buf[:min(bs, size-off)], off)
				if err != nil && !(errors.Is(err, io.EOF) && int64(n) == min(bs, size-off)) {
					fail(fmt.Errorf("read the image at %d: %w", off, err))
					continue
				}
				clear(buf[n:]) // the last block is zero-padded to the full size
				zero := diskimage.IsZero(buf)
				var sum [32]byte
				h := ""
				if !zero {
					sum = sha256.Sum256(buf)
					h = hex.EncodeToString(sum[:])
					if int64(n) < bs { // the block map hashes a short last block as it is
						short := sha256.Sum256(buf[:n])
						h = hex.EncodeToString(short[:])
					}
				}
				if cur != nil && h != cur.Blocks[i] {
					fail(fmt.Errorf("block %d of the image differs from its block map: the image changed after the map was made", i))
					continue
				}
				if i < int64(len(pushed.Blocks)) {
					pushed.Blocks[i] = h // each index is one worker's
				}
				send := !zero
				if base != nil {
					send = i >= int64(len(base.Blocks)) && !zero || i < int64(len(base.Blocks)) && base.Blocks[i] != h
					if send && zero {
						sum = sha256.Sum256(buf)
					}
				}
				if send {
					b64 := base64.StdEncoding.EncodeToString(sum[:])
					err := withRetry(ctx, o.attempts(), func(err error) {
						retries.Add(1)
						o.logf("PutSnapshotBlock %s #%d: %v (retrying)", id, i, err)
					}, func() error {
						_, err := c.PutSnapshotBlock(ctx, &ebs.PutSnapshotBlockInput{
							SnapshotId: aws.String(id), BlockIndex: aws.Int32(int32(i)),
							BlockData: bytes.NewReader(buf), DataLength: aws.Int32(int32(bs)),
							Checksum: aws.String(b64), ChecksumAlgorithm: ebstypes.ChecksumAlgorithmChecksumAlgorithmSha256,
						})
						return err
					})
					if err != nil {
						fail(fmt.Errorf("snapshot %s block %d: %w", id, i, err))
						continue
					}
					s := sum
					sums[k] = s[:]
					sent.Add(1)
				}
				if o.Progress != nil {
					o.Progress(done.Add(bs), total)
				}
			}
		}()
	}
feed:
	for k := range idx {
		select {
		case work <- k:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	st.Retries = retries.Load()
	if firstErr != nil {
		return st, firstErr
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	st.Map = pushed
	// LINEAR aggregation: the SHA-256 of the block checksums concatenated in index order.
	agg := sha256.New()
	for _, s := range sums {
		agg.Write(s)
	}
	aggB64 := base64.StdEncoding.EncodeToString(agg.Sum(nil))
	count := sent.Load()
	err := withRetry(ctx, o.attempts(), func(err error) { o.logf("CompleteSnapshot %s: %v (retrying)", id, err) }, func() error {
		_, err := c.CompleteSnapshot(ctx, &ebs.CompleteSnapshotInput{
			SnapshotId: aws.String(id), ChangedBlocksCount: aws.Int32(int32(count)),
			Checksum: aws.String(aggB64), ChecksumAlgorithm: ebstypes.ChecksumAlgorithmChecksumAlgorithmSha256,
			ChecksumAggregationMethod: ebstypes.ChecksumAggregationMethodChecksumAggregationLinear,
		})
		return err
	})
	if err != nil {
		return st, fmt.Errorf("CompleteSnapshot %s: %w", id, err)
	}
	st.Blocks = int(count)
	st.Bytes = count * bs
	return st, nil
}

// unionBlocks adds to idx (ascending) the blocks base holds data in, below n.
func unionBlocks(idx []int64, base *provenance.BlockMap, n int64) []int64 {
	set := make(map[int64]bool, len(idx))
	for _, i := range idx {
		set[i] = true
	}
	out := append([]int64(nil), idx...)
	for i, h := range base.Blocks {
		if h != "" && int64(i) < n && !set[int64(i)] {
			out = append(out, int64(i))
		}
	}
	slices.Sort(out)
	return out
}

// differing lists the blocks of cur whose hash is not base's (a block beyond base's end
// counts where it holds data).
func differing(cur, base *provenance.BlockMap) []int64 {
	var out []int64
	for i, h := range cur.Blocks {
		if i < len(base.Blocks) && base.Blocks[i] != h || i >= len(base.Blocks) && h != "" {
			out = append(out, int64(i))
		}
	}
	return out
}

// checkParent makes sure a delta push onto parent gives the snapshot asked for: the parent
// is completed, no larger than gib, and encrypted exactly as asked (a child takes the
// parent's encryption and key; EBS refuses Encrypted or KmsKeyArn with a parent). Anything
// else is a *BaseError: the caller pushes in full.
func checkParent(ctx context.Context, cl *Clients, parent string, gib int64, o UploadOptions) error {
	out, err := cl.EC2.DescribeSnapshots(ctx, &sdkec2.DescribeSnapshotsInput{SnapshotIds: []string{parent}})
	if err != nil {
		return &BaseError{fmt.Errorf("the parent snapshot %s: %w", parent, err)}
	}
	if len(out.Snapshots) != 1 {
		return &BaseError{fmt.Errorf("the parent snapshot %s is gone", parent)}
	}
	p := out.Snapshots[0]
	switch {
	case p.State != "completed":
		return &BaseError{fmt.Errorf("the parent snapshot %s is %s, not completed", parent, p.State)}
	case aws.ToInt32(p.VolumeSize) > 0 && int64(aws.ToInt32(p.VolumeSize)) > gib:
		return &BaseError{fmt.Errorf("the parent snapshot %s is %d GiB, larger than the image's %d GiB", parent, aws.ToInt32(p.VolumeSize), gib)}
	case aws.ToBool(p.Encrypted) != o.Encrypted:
		return &BaseError{fmt.Errorf("the parent snapshot %s is encrypted=%v, the push asks encrypted=%v (a child inherits its parent's encryption)", parent, aws.ToBool(p.Encrypted), o.Encrypted)}
	case o.Encrypted && o.KMSKeyARN != "" && o.KMSKeyARN != aws.ToString(p.KmsKeyId):
		return &BaseError{fmt.Errorf("the parent snapshot %s is encrypted with %s, the push asks %s (a child keeps its parent's key)", parent, aws.ToString(p.KmsKeyId), o.KMSKeyARN)}
	}
	return nil
}

// waitSnapshot polls DescribeSnapshots until the snapshot is completed (fails on error).
func waitSnapshot(ctx context.Context, c *sdkec2.Client, id string, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = 30 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	delay := 500 * time.Millisecond
	for {
		out, err := c.DescribeSnapshots(ctx, &sdkec2.DescribeSnapshotsInput{SnapshotIds: []string{id}})
		switch {
		case err != nil && APICode(err) != "InvalidSnapshot.NotFound":
			return fmt.Errorf("wait for snapshot %s: %w", id, err)
		case err == nil && len(out.Snapshots) == 1:
			s := out.Snapshots[0]
			switch s.State {
			case "completed":
				return nil
			case "error":
				return fmt.Errorf("snapshot %s failed: %s", id, aws.ToString(s.StateMessage))
			}
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return fmt.Errorf("wait for snapshot %s: %w", id, ctx.Err())
		}
		delay = min(delay*2, 10*time.Second)
	}
}
