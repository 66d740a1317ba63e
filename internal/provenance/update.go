package provenance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
)

// BaseError says why a base (an earlier working copy and its block map) cannot be used: the
// caller brings the image home in full instead, and says why.
type BaseError struct{ Reason error }

func (e *BaseError) Error() string { return "the base cannot be used: " + e.Reason.Error() }
func (e *BaseError) Unwrap() error { return e.Reason }

// UpdateStats describe an Update.
type UpdateStats struct {
	Reflink bool // the base was cloned (FICLONE), not copied
	// Copy and Check are the time spent copying the base and checking it against its map.
	Copy, Check time.Duration
	// Trusted: the base's stamp matched its file (not written since its map was made), so it
	// was not read again; Untrusted says why it was checked block by block instead.
	Trusted   bool
	Untrusted string
	Blocks    int64 // blocks of the new image
	Written   int64 // blocks that differed from the base and were written (Zeroed included)
	Zeroed    int64 // blocks that became zeros: punched (or zeroed)
	Bytes     int64 // bytes written (data; a punched block counts none)
}

// Update writes a new disk image into a file that starts as a copy of a base (NewUpdate), or
// into a new empty file (NewMapWriter), and makes the new image's block map on the way. It is
// a sink for a source that writes the image in order: WriteAt calls at offsets that never go
// back into a block already passed, holes and zeros simply not written (as a sparse writer
// does into a new file), and Truncate to set the image's size (before, between or after the
// writes). Each block is hashed once complete and written only where its hash differs from
// the base's map: with a base, a block the source left as zeros but the base holds data in
// is punched (zeroed where the filesystem cannot punch), not skipped. Finish completes it.
//
// Memory: one block. Update knows nothing of where the bytes come from.
type Update struct {
	f    *os.File
	base *BlockMap // nil: f was empty

	size  int64
	sized bool
	cur   int64 // the block buf holds (-1: none)
	next  int64 // the first block not yet done
	buf   []byte
	dirty bool // buf holds data written since it was cleared
	hash  []string
	st    UpdateStats

	// writeAt and punch reach the file (tests count them).
	writeAt func(b []byte, off int64) error
	punch   func(off, n int64) error
}

// NewMapWriter is an Update without a base: f is a new empty file, every block with data is
// written (sparsely: all-zero 4 KiB runs left as holes) and hashed on the way.
func NewMapWriter(f *os.File) *Update { return newUpdate(f, nil) }

func newUpdate(f *os.File, base *BlockMap) *Update {
	u := &Update{f: f, base: base, cur: -1, buf: make([]byte, BlockSize)}
	u.writeAt = func(b []byte, off int64) error { _, err := f.WriteAt(b, off); return err }
	u.punch = func(off, n int64) error { return punchHole(f, off, n) }
	return u
}

// NewUpdate makes f (a new empty file open for writing) a copy of the base working copy at
// basePath (CloneInto: a reflink where the filesystem can, else a sparse copy) and checks it
// against base, its block map: not read again when base's stamp matches the file before and
// after the copy (Unchanged), else every block checked (VerifyData). A base that does not
// match its map, or is not of BlockSize blocks, is a *BaseError: f may hold part of the copy,
// and the caller truncates it and brings the image home in full.
func NewUpdate(ctx context.Context, f *os.File, basePath string, base *BlockMap) (*Update, error) {
	if base == nil || base.BlockSize != BlockSize {
		return nil, &BaseError{fmt.Errorf("its block map is missing or not of %d-byte blocks", BlockSize)}
	}
	u := newUpdate(f, base)
	start := time.Now()
	stampErr := base.Unchanged(basePath)
	var err error
	u.st.Reflink, err = CloneInto(ctx, basePath, f)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &BaseError{fmt.Errorf("copy the base working copy %s: %w", basePath, err)}
	}
	u.st.Copy = time.Since(start)
	start = time.Now()
	if stampErr == nil {
		stampErr = base.Unchanged(basePath)
	}
	u.st.Trusted = stampErr == nil
	if !u.st.Trusted {
		u.st.Untrusted = stampErr.Error()
		err = base.VerifyData(ctx, f.Name())
	}
	u.st.Check = time.Since(start)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &BaseError{fmt.Errorf("the base working copy %s does not match its record: %w", basePath, err)}
	}
	return u, nil
}

// Truncate sets the new image's size (the file's too).
func (u *Update) Truncate(size int64) error {
	if size < 0 {
		return fmt.Errorf("update: size %d", size)
	}
	if size < u.next*BlockSize {
		return fmt.Errorf("update: size %d cuts into block %d, already written", size, u.next-1)
	}
	if err := u.f.Truncate(size); err != nil {
		return err
	}
	u.size, u.sized = size, true
	return nil
}

// WriteAt takes p at off (in order: see Update).
func (u *Update) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || (u.cur >= 0 && off < u.cur*BlockSize) || off < u.next*BlockSize {
		return 0, fmt.Errorf("update: a write at %d goes back before block %d: the source must write in order", off, max(u.cur, u.next))
	}
	if u.sized && off+int64(len(p)) > u.size {
		return 0, fmt.Errorf("update: a write of %d bytes at %d goes past the image's %d bytes", len(p), off, u.size)
	}
	done := 0
	for done < len(p) {
		b := off / BlockSize
		if b != u.cur {
			if err := u.advance(b); err != nil {
				return done, err
			}
		}
		in := off - b*BlockSize
		n := copy(u.buf[in:], p[done:])
		u.dirty = true
		done += n
		off += int64(n)
	}
	return done, nil
}

// advance completes every block before b and makes b the current one.
func (u *Update) advance(b int64) error {
	if u.cur >= 0 {
		if err := u.complete(u.cur, u.buf, BlockSize); err != nil {
			return err
		}
	}
	for u.next < b { // untouched blocks: zeros
		if err := u.complete(u.next, nil, BlockSize); err != nil {
			return err
		}
	}
	u.cur = b
	if u.dirty {
		clear(u.buf)
		u.dirty = false
	}
	return nil
}

// complete decides block b, whose new content is data[:n] (nil: zeros), and records its hash.
func (u *Update) complete(b int64, data []byte, n int64) error {
	if b != int64(len(u.hash)) {
		return fmt.Errorf("update: block %d completed out of order", b)
	}
	h := ""
	if data != nil && !diskimage.IsZero(data[:n]) {
		s := sha256.Sum256(data[:n])
		h = hex.EncodeToString(s[:])
	}
	old := ""
	if u.base != nil && b < int64(len(u.base.Blocks)) {
		old = u.base.Blocks[b]
	}
	u.hash = append(u.hash, h)
	u.next = b + 1
	if u.cur == b {
		u.cur = -1
	}
	if h == old {
		return nil
	}
	u.st.Written++
	off := b * BlockSize
	if old != "" {
		// The copy holds the base's data here: make it zeros first.
		if err := u.punch(off, n); err != nil {
			if h == "" {
				data = make([]byte, n) // no hole punching: write zeros
			} else {
				data = data[:n] // write the whole block, zeros and all
			}
			if err := u.writeAt(data[:n], off); err != nil {
				return err
			}
			u.st.Bytes += n
			if h == "" {
				u.st.Zeroed++
			}
			return nil
		}
	}
	if h == "" {
		u.st.Zeroed++
		return nil
	}
	// Data into zeros: the runs of non-zero 4 KiB blocks, as a sparse writer does.
	const small = 4096
	for i := int64(0); i < n; {
		j := i
		for j < n && !diskimage.IsZero(data[j:min(j+small, n)]) {
			j += small
		}
		if j > i {
			if err := u.writeAt(data[i:min(j, n)], off+i); err != nil {
				return err
			}
			u.st.Bytes += min(j, n) - i
		}
		i = j + small
	}
	return nil
}

// Finish completes the last blocks and returns the new image's block map (its Path the
// file's name, no stamp) and what was written. The source must have set the size.
func (u *Update) Finish() (*BlockMap, UpdateStats, error) {
	if !u.sized {
		return nil, u.st, errors.New("update: the source never set the image's size")
	}
	n := (u.size + BlockSize - 1) / BlockSize
	if u.cur >= n || u.next > n {
		return nil, u.st, fmt.Errorf("update: data past the image's %d bytes", u.size)
	}
	last := func(b int64) int64 { return min(BlockSize, u.size-b*BlockSize) }
	if u.cur >= 0 {
		for u.next < u.cur {
			if err := u.complete(u.next, nil, BlockSize); err != nil {
				return nil, u.st, err
			}
		}
		if err := u.complete(u.cur, u.buf, last(u.cur)); err != nil {
			return nil, u.st, err
		}
	}
	for u.next < n {
		if err := u.complete(u.next, nil, last(u.next)); err != nil {
			return nil, u.st, err
		}
	}
	u.st.Blocks = n
	return &BlockMap{Path: u.f.Name(), Size: u.size, BlockSize: BlockSize, Blocks: u.hash}, u.st, nil
}
