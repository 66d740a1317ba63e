package ec2

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	ebstypes "github.com/aws/aws-sdk-go-v2/service/ebs/types"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
)

// BlockSize is the EBS direct API block size.
const BlockSize = 512 * 1024

// GiB is a gibibyte, the unit of EBS volume sizes.
const GiB = int64(1) << 30

// TransferOptions tune EBS direct transfers.
type TransferOptions struct {
	// Workers is the number of blocks in flight (default 16).
	Workers int
	// Attempts is how often one block is tried before the transfer fails (default 10).
	Attempts int
	// Progress, when set, is told the bytes done out of the total.
	Progress func(done, total int64)
	// Logf, when set, receives retries and other notes.
	Logf func(format string, args ...any)

	// onBlock, when set, is told each block read and checked: its index and SHA-256 (a
	// download builds the block map from the checksums it checked, without hashing again).
	onBlock func(index int64, sum [32]byte, zero bool)
}

func (o TransferOptions) workers() int {
	if o.Workers <= 0 {
		return 16
	}
	return o.Workers
}

func (o TransferOptions) attempts() int {
	if o.Attempts <= 0 {
		return 10
	}
	return o.Attempts
}

func (o TransferOptions) logf(format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
	}
}

// TransferStats describe a finished transfer.
type TransferStats struct {
	VolumeSize int64 // bytes
	Blocks     int   // blocks read or written
	Bytes      int64 // bytes of those blocks
	Retries    int64 // attempts that failed and were retried
	// Map is, after an upload, the block map of the image written (its Path empty).
	Map *provenance.BlockMap
}

// EBSReader is the part of the EBS client a download uses.
type EBSReader interface {
	ListSnapshotBlocks(ctx context.Context, in *ebs.ListSnapshotBlocksInput, optFns ...func(*ebs.Options)) (*ebs.ListSnapshotBlocksOutput, error)
	GetSnapshotBlock(ctx context.Context, in *ebs.GetSnapshotBlockInput, optFns ...func(*ebs.Options)) (*ebs.GetSnapshotBlockOutput, error)
}

type listedBlock struct {
	index int32
	token string
}

// listBlocks pages through ListSnapshotBlocks: the written blocks in index order, the block
// size and the volume size in bytes.
func listBlocks(ctx context.Context, c EBSReader, snapshotID string, o TransferOptions) ([]listedBlock, int, int64, error) {
	var (
		blocks    []listedBlock
		next      *string
		blockSize int
		volume    int64
	)
	for {
		var out *ebs.ListSnapshotBlocksOutput
		err := withRetry(ctx, o.attempts(), func(err error) { o.logf("ListSnapshotBlocks %s: %v (retrying)", snapshotID, err) }, func() error {
			var err error
			out, err = c.ListSnapshotBlocks(ctx, &ebs.ListSnapshotBlocksInput{
				SnapshotId: aws.String(snapshotID), MaxResults: aws.Int32(10000), NextToken: next,
			})
			return err
		})
		if err != nil {
			return nil, 0, 0, fmt.Errorf("list the blocks of snapshot %s: %w", snapshotID, err)
		}
		blockSize = int(aws.ToInt32(out.BlockSize))
		volume = aws.ToInt64(out.VolumeSize) * GiB
		for _, b := range out.Blocks {
			blocks = append(blocks, listedBlock{aws.ToInt32(b.BlockIndex), aws.ToString(b.BlockToken)})
		}
		if aws.ToString(out.NextToken) == "" {
			break
		}
		next = out.NextToken
	}
	if blockSize <= 0 {
		blockSize = BlockSize
	}
	sort.Slice(blocks, func(i, j int) bool { return blocks[i].index < blocks[j].index })
	return blocks, blockSize, volume, nil
}

// DownloadSnapshot writes a completed snapshot into dst as a sparse raw image of the volume's
// size: only the written blocks are fetched, in parallel, each checked against its SHA-256;
// all-zero blocks are left as holes. dst should be empty.
func DownloadSnapshot(ctx context.Context, c EBSReader, snapshotID string, dst *os.File, o TransferOptions) (TransferStats, error) {
	var st TransferStats
	blocks, blockSize, volume, err := listBlocks(ctx, c, snapshotID, o)
	if err != nil {
		return st, err
	}
	st.VolumeSize = volume
	if volume <= 0 {
		return st, fmt.Errorf("snapshot %s: no volume size", snapshotID)
	}
	if err := dst.Truncate(volume); err != nil {
		return st, err
	}
	return fetchBlocks(ctx, c, snapshotID, blocks, blockSize, volume, dst, false, o)
}

// fetchBlocks reads the blocks of a snapshot in parallel, each checked against its SHA-256,
// and writes them into dst at their offsets (volume bytes long). An all-zero block is not
// written; with punch, its range of dst is made a hole (dst held other data there), and so is
// a block without a token (a block a ListChangedBlocks answer says the snapshot no longer has).
func fetchBlocks(ctx context.Context, c EBSReader, snapshotID string, blocks []listedBlock, blockSize int, volume int64, dst *os.File, punch bool, o TransferOptions) (TransferStats, error) {
	st := TransferStats{VolumeSize: volume}
	total := int64(len(blocks)) * int64(blockSize)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		done, retries, fetched atomic.Int64
		firstErr               error
		errOnce                sync.Once
		wg                     sync.WaitGroup
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	work := make(chan listedBlock)
	for range min(o.workers(), max(len(blocks), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, blockSize)
			for b := range work {
				off := int64(b.index) * int64(blockSize)
				n := min(int64(blockSize), volume-off)
				var sum [32]byte
				zero := true
				if b.token != "" {
					err := withRetry(ctx, o.attempts(), func(err error) {
						retries.Add(1)
						o.logf("GetSnapshotBlock %s #%d: %v (retrying)", snapshotID, b.index, err)
					}, func() error {
						var err error
						sum, err = getBlockSum(ctx, c, snapshotID, b, buf)
						return err
					})
					if err != nil {
						fail(fmt.Errorf("snapshot %s block %d: %w", snapshotID, b.index, err))
						continue
					}
					fetched.Add(1)
					zero = diskimage.IsZero(buf)
				}
				if o.onBlock != nil {
					o.onBlock(int64(b.index), sum, zero)
				}
				if n > 0 {
					var err error
					switch {
					case !zero:
						_, err = dst.WriteAt(buf[:n], off)
					case punch:
						err = zeroRange(dst, off, n)
					}
					if err != nil {
						fail(err)
						continue
					}
				}
				if o.Progress != nil {
					o.Progress(done.Add(int64(blockSize)), total)
				}
			}
		}()
	}
feed:
	for _, b := range blocks {
		select {
		case work <- b:
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
	st.Blocks = int(fetched.Load())
	st.Bytes = int64(st.Blocks) * int64(blockSize)
	return st, nil
}

// zeroRange makes [off, off+n) of f read as zeros: a hole where the filesystem can punch one,
// else written zeros.
func zeroRange(f *os.File, off, n int64) error {
	if punchHole(f, off, n) == nil {
		return nil
	}
	_, err := f.WriteAt(make([]byte, n), off)
	return err
}

var errChecksum = errors.New("block checksum mismatch")

// getBlock fetches one block into buf (len(buf) is the block size) and checks it.
func getBlock(ctx context.Context, c EBSReader, snapshotID string, b listedBlock, buf []byte) error {
	_, err := getBlockSum(ctx, c, snapshotID, b, buf)
	return err
}

// getBlockSum is getBlock that also returns the SHA-256 of the whole of buf (the block
// zero-padded to the block size).
func getBlockSum(ctx context.Context, c EBSReader, snapshotID string, b listedBlock, buf []byte) ([32]byte, error) {
	var whole [32]byte
	err := func() error {
		out, err := c.GetSnapshotBlock(ctx, &ebs.GetSnapshotBlockInput{
			SnapshotId: aws.String(snapshotID), BlockIndex: aws.Int32(b.index), BlockToken: aws.String(b.token),
		})
		if err != nil {
			return err
		}
		defer out.BlockData.Close()
		n, err := io.ReadFull(out.BlockData, buf)
		if err != nil && !(errors.Is(err, io.ErrUnexpectedEOF) && int32(n) == aws.ToInt32(out.DataLength)) {
			return fmt.Errorf("read block data: %w", err)
		}
		if dl := aws.ToInt32(out.DataLength); dl != 0 && int(dl) != n {
			return fmt.Errorf("block is %d bytes, DataLength says %d", n, dl)
		}
		clear(buf[n:])
		if out.ChecksumAlgorithm != "" && out.ChecksumAlgorithm != ebstypes.ChecksumAlgorithmChecksumAlgorithmSha256 {
			return fmt.Errorf("unknown checksum algorithm %q", out.ChecksumAlgorithm)
		}
		if want := aws.ToString(out.Checksum); want != "" {
			sum := sha256.Sum256(buf[:n])
			if base64.StdEncoding.EncodeToString(sum[:]) != want {
				return errChecksum
			}
			if n == len(buf) {
				whole = sum
			} else {
				whole = sha256.Sum256(buf)
			}
		} else {
			return errors.New("the block came without a checksum")
		}
		return nil
	}()
	return whole, err
}
