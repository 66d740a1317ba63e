package ec2emu

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// blockStore keeps 512 KiB snapshot blocks in one append-only file. Blocks are immutable once
// written, so snapshots (and copies of them) share them by offset.
type blockStore struct {
	mu   sync.Mutex
	f    *os.File
	next int64
}

// blockRef locates one stored block and remembers its SHA-256.
type blockRef struct {
	off int64
	sum [32]byte
}

func newBlockStore(dir string) (*blockStore, error) {
	f, err := os.CreateTemp(dir, "blocks-*.dat")
	if err != nil {
		return nil, err
	}
	return &blockStore{f: f}, nil
}

func (b *blockStore) close() {
	if b.f != nil {
		name := b.f.Name()
		b.f.Close()
		os.Remove(name)
		b.f = nil
	}
}

// put stores a full block and returns its reference.
func (b *blockStore) put(data []byte) (blockRef, error) {
	if len(data) != BlockSize {
		return blockRef{}, errors.New("block of wrong size")
	}
	b.mu.Lock()
	off := b.next
	b.next += BlockSize
	f := b.f
	b.mu.Unlock()
	if f == nil {
		return blockRef{}, errors.New("emulator closed")
	}
	if _, err := f.WriteAt(data, off); err != nil {
		return blockRef{}, err
	}
	return blockRef{off: off, sum: sha256.Sum256(data)}, nil
}

// get reads a block into buf (BlockSize bytes).
func (b *blockStore) get(ref blockRef, buf []byte) error {
	b.mu.Lock()
	f := b.f
	b.mu.Unlock()
	if f == nil {
		return errors.New("emulator closed")
	}
	_, err := f.ReadAt(buf[:BlockSize], ref.off)
	return err
}

// blockMap is a snapshot's content: block index → stored block. Absent blocks read as zeros.
type blockMap map[int64]blockRef

func (m blockMap) indexes() []int64 {
	idx := make([]int64, 0, len(m))
	for i := range m {
		idx = append(idx, i)
	}
	sort.Slice(idx, func(a, b int) bool { return idx[a] < idx[b] })
	return idx
}

func (m blockMap) clone() blockMap {
	c := make(blockMap, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

var zeroBlock = make([]byte, BlockSize)

// importFile reads a raw disk file and stores its non-zero blocks, skipping holes with
// SEEK_DATA/SEEK_HOLE where the file system supports them.
func (b *blockStore) importFile(path string) (blockMap, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	size := st.Size()
	m, err := b.importReaderAt(f, size)
	return m, size, err
}

const (
	seekData = 3
	seekHole = 4
)

func (b *blockStore) importReaderAt(f io.ReaderAt, size int64) (blockMap, error) {
	m := make(blockMap)
	buf := make([]byte, BlockSize)
	osf, _ := f.(*os.File)
	for pos := int64(0); pos < size; {
		if osf != nil {
			// Jump over holes: the block containing the next data byte.
			d, err := osf.Seek(pos, seekData)
			if err != nil {
				break // ENXIO: no data after pos
			}
			if d >= size {
				break
			}
			pos = d / BlockSize * BlockSize
		}
		n, err := f.ReadAt(buf, pos)
		if err != nil && err != io.EOF {
			return nil, err
		}
		if n == 0 {
			break
		}
		clear(buf[n:])
		if !bytes.Equal(buf, zeroBlock) {
			ref, err := b.put(buf)
			if err != nil {
				return nil, err
			}
			m[pos/BlockSize] = ref
		}
		pos += BlockSize
	}
	return m, nil
}

// writeFile materialises a block map as a sparse raw file of the given size.
func (b *blockStore) writeFile(m blockMap, path string, size int64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return err
	}
	buf := make([]byte, BlockSize)
	for _, i := range m.indexes() {
		if err := b.get(m[i], buf); err != nil {
			return err
		}
		n := int64(BlockSize)
		if i*BlockSize+n > size {
			n = size - i*BlockSize
		}
		if n <= 0 {
			continue
		}
		if _, err := f.WriteAt(buf[:n], i*BlockSize); err != nil {
			return err
		}
	}
	return nil
}

// blockReader reads a block map as a contiguous stream of size bytes.
type blockReader struct {
	b    *blockStore
	m    blockMap
	size int64
}

func (r *blockReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	n := 0
	buf := make([]byte, BlockSize)
	for n < len(p) && off < r.size {
		idx := off / BlockSize
		in := off % BlockSize
		want := int64(len(p) - n)
		if rem := int64(BlockSize) - in; want > rem {
			want = rem
		}
		if rem := r.size - off; want > rem {
			want = rem
		}
		if ref, ok := r.m[idx]; ok {
			if err := r.b.get(ref, buf); err != nil {
				return n, err
			}
			copy(p[n:], buf[in:in+want])
		} else {
			clear(p[n : n+int(want)])
		}
		n += int(want)
		off += want
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
