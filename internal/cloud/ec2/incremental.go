package ec2

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
)

// BaseError says why a base (a previous capture's working copy and block map) cannot be used
// for a changed-block recapture; the caller falls back to a full download.
type BaseError struct{ Reason error }

func (e *BaseError) Error() string { return "the base cannot be used: " + e.Reason.Error() }
func (e *BaseError) Unwrap() error { return e.Reason }

func baseErr(format string, args ...any) error { return &BaseError{fmt.Errorf(format, args...)} }

// EBSChangeReader is the part of the EBS client a changed-block recapture uses.
type EBSChangeReader interface {
	EBSReader
	ListChangedBlocks(ctx context.Context, in *ebs.ListChangedBlocksInput, optFns ...func(*ebs.Options)) (*ebs.ListChangedBlocksOutput, error)
}

// blockMapper collects a block map from the checksums a download checked.
type blockMapper struct {
	mu sync.Mutex
	m  *provenance.BlockMap
}

func (b *blockMapper) set(i int64, sum [32]byte, zero bool) {
	h := ""
	if !zero {
		h = hex.EncodeToString(sum[:])
	}
	b.mu.Lock()
	if i >= 0 && i < int64(len(b.m.Blocks)) {
		b.m.Blocks[i] = h
	}
	b.mu.Unlock()
}

func newMap(path string, size int64) *provenance.BlockMap {
	return &provenance.BlockMap{Path: path, Size: size, BlockSize: provenance.BlockSize,
		Blocks: make([]string, (size+provenance.BlockSize-1)/provenance.BlockSize)}
}

// DownloadSnapshotMap is DownloadSnapshot that also returns the block map of what it wrote
// (the path dst.Name()), made from the SHA-256 of each block it checked: no second reading.
func DownloadSnapshotMap(ctx context.Context, c EBSReader, snapshotID string, dst *os.File, o TransferOptions) (*provenance.BlockMap, TransferStats, error) {
	blocks, blockSize, volume, err := listBlocks(ctx, c, snapshotID, o)
	if err != nil {
		return nil, TransferStats{}, err
	}
	if volume <= 0 {
		return nil, TransferStats{}, fmt.Errorf("snapshot %s: no volume size", snapshotID)
	}
	if blockSize != provenance.BlockSize {
		return nil, TransferStats{}, fmt.Errorf("snapshot %s: block size %d, want %d", snapshotID, blockSize, provenance.BlockSize)
	}
	if err := dst.Truncate(volume); err != nil {
		return nil, TransferStats{}, err
	}
	bm := &blockMapper{m: newMap(dst.Name(), volume)}
	o.onBlock = bm.set
	st, err := fetchBlocks(ctx, c, snapshotID, blocks, blockSize, volume, dst, false, o)
	if err != nil {
		return nil, st, err
	}
	return bm.m, st, nil
}

// listChanged pages through ListChangedBlocks(first, second): the blocks that differ, in
// index order, with the second snapshot's token ("" where the second snapshot has no such
// block: it reads as zeros), and the second snapshot's volume size in bytes.
func listChanged(ctx context.Context, c EBSChangeReader, first, second string, o TransferOptions) ([]listedBlock, int64, error) {
	var (
		blocks []listedBlock
		next   *string
		volume int64
	)
	for {
		var out *ebs.ListChangedBlocksOutput
		err := withRetry(ctx, o.attempts(), func(err error) { o.logf("ListChangedBlocks %s %s: %v (retrying)", first, second, err) }, func() error {
			var err error
			out, err = c.ListChangedBlocks(ctx, &ebs.ListChangedBlocksInput{
				FirstSnapshotId: aws.String(first), SecondSnapshotId: aws.String(second),
				MaxResults: aws.Int32(10000), NextToken: next,
			})
			return err
		})
		if err != nil {
			return nil, 0, err
		}
		if bs := aws.ToInt32(out.BlockSize); bs != 0 && bs != provenance.BlockSize {
			return nil, 0, fmt.Errorf("block size %d, want %d", bs, provenance.BlockSize)
		}
		volume = aws.ToInt64(out.VolumeSize) * GiB
		for _, b := range out.ChangedBlocks {
			blocks = append(blocks, listedBlock{aws.ToInt32(b.BlockIndex), aws.ToString(b.SecondBlockToken)})
		}
		if aws.ToString(out.NextToken) == "" {
			break
		}
		next = out.NextToken
	}
	sort.Slice(blocks, func(i, j int) bool { return blocks[i].index < blocks[j].index })
	return blocks, volume, nil
}

// RecaptureStats describe a changed-block recapture.
type RecaptureStats struct {
	TransferStats
	Changed int  // blocks ListChangedBlocks reported
	Reflink bool // the base was cloned (FICLONE), not copied
	// Copy and Check are the time spent copying the base and checking it against its map.
	Copy, Check time.Duration
	// Trusted: the base's stamp matched (not written since its map was made), so it was not
	// read again; Untrusted says why it was checked block by block instead.
	Trusted   bool
	Untrusted string
}

// DownloadChanged makes dst (an empty file) the content of snapshot second from a previous
// capture of snapshot first: the working copy at basePath, whose block map base recorded at
// that capture. It copies the base into dst (a reflink where the filesystem can, else a
// sparse copy), checks every block of the copy against base unless base's stamp says the
// file was not written since the map was made (provenance.Stamp), asks ListChangedBlocks(first,
// second) which blocks differ and fetches only those, and the blocks dirty (those the earlier
// build changed in its working copy after the capture: they differ from snapshot first),
// each checked against its SHA-256 (a block the second snapshot does not have becomes a
// hole), and returns the block map of the result. A base that does not match its map, a block map of another block size, or a pair
// of snapshots EBS cannot compare (the first deleted, unrelated) is a *BaseError: nothing
// was fetched, and the caller falls back to a full download into a fresh file.
func DownloadChanged(ctx context.Context, c EBSChangeReader, base *provenance.BlockMap, dirty []int64, basePath, first, second string, dst *os.File, o TransferOptions) (*provenance.BlockMap, RecaptureStats, error) {
	var rs RecaptureStats
	if base == nil || base.BlockSize != provenance.BlockSize {
		return nil, rs, baseErr("its block map is missing or not of %d-byte blocks", provenance.BlockSize)
	}
	if first == "" || first == second {
		return nil, rs, baseErr("it names no earlier snapshot (%q) to compare %s with", first, second)
	}
	changed, volume, err := listChanged(ctx, c, first, second, o)
	if err != nil {
		return nil, rs, baseErr("ListChangedBlocks(%s, %s): %w", first, second, err)
	}
	if volume < base.Size {
		return nil, rs, baseErr("snapshot %s is %d bytes, smaller than the base's %d", second, volume, base.Size)
	}
	rs.Changed = len(changed)
	if len(dirty) > 0 {
		changed, err = addDirty(ctx, c, changed, dirty, second, o)
		if err != nil {
			return nil, rs, err
		}
	}
	start := time.Now()
	// A base whose stamp says it was not written since its map was made (before and after
	// the copy) is not read again; any other is checked block by block in the copy.
	stampErr := base.Unchanged(basePath)
	rs.Reflink, err = provenance.CloneInto(ctx, basePath, dst)
	if err != nil {
		return nil, rs, baseErr("copy the base working copy %s: %w", basePath, err)
	}
	rs.Copy = time.Since(start)
	start = time.Now()
	if stampErr == nil {
		stampErr = base.Unchanged(basePath)
	}
	rs.Trusted = stampErr == nil
	if !rs.Trusted {
		rs.Untrusted = stampErr.Error()
		err = base.VerifyData(ctx, dst.Name())
	}
	rs.Check = time.Since(start)
	if err != nil {
		if ctx.Err() != nil {
			return nil, rs, ctx.Err()
		}
		return nil, rs, baseErr("the base working copy %s does not match its record: %w", basePath, err)
	}
	if volume > base.Size {
		if err := dst.Truncate(volume); err != nil {
			return nil, rs, err
		}
	}
	m := newMap(dst.Name(), volume)
	copy(m.Blocks, base.Blocks)
	bm := &blockMapper{m: m}
	o.onBlock = bm.set
	st, err := fetchBlocks(ctx, c, second, changed, provenance.BlockSize, volume, dst, true, o)
	rs.TransferStats = st
	if err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return nil, rs, ctx.Err()
		}
		return nil, rs, err
	}
	return m, rs, nil
}

// addDirty adds to changed the blocks of dirty it lacks, with their tokens in snapshot second
// (ListSnapshotBlocks; "" where second has no such block).
func addDirty(ctx context.Context, c EBSReader, changed []listedBlock, dirty []int64, second string, o TransferOptions) ([]listedBlock, error) {
	all, _, _, err := listBlocks(ctx, c, second, o)
	if err != nil {
		return nil, err
	}
	tokens := make(map[int32]string, len(all))
	for _, b := range all {
		tokens[b.index] = b.token
	}
	have := make(map[int32]bool, len(changed))
	for _, b := range changed {
		have[b.index] = true
	}
	for _, d := range dirty {
		i := int32(d)
		if int64(i) != d || have[i] {
			continue
		}
		have[i] = true
		changed = append(changed, listedBlock{i, tokens[i]})
	}
	sort.Slice(changed, func(i, j int) bool { return changed[i].index < changed[j].index })
	return changed, nil
}
