package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1" //nolint:gosec // the bundle format is defined with SHA-1
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
)

// PartSource opens one part (e.g. an S3 GetObject of bucket/dir/<p.Filename>).
type PartSource func(ctx context.Context, p Part) (io.ReadCloser, error)

// ReadOptions tune Read.
type ReadOptions struct {
	// Progress, when set, is told the image bytes written so far out of the image size.
	Progress func(done, total int64)
}

// Read unbundles m with its AES key and IV (Manifest.Keys) into dst, at offset 0, writing
// only non-zero blocks: dst should be an empty (sparse) file, which the caller sizes to
// m.Size. Each part's SHA-1 is checked before its bytes are used, then the tar's SHA-1 and
// the image's size; any mismatch is an error naming what differs.
func Read(ctx context.Context, m *Manifest, key, iv []byte, open PartSource, dst io.WriterAt, o ReadOptions) error {
	if len(key) != 16 || len(iv) != 16 {
		return errors.New("bundle: the AES-128 key and IV are 16 bytes each")
	}
	pr := &partsReader{ctx: ctx, m: m, open: open}
	block, _ := aes.NewCipher(key)
	cr := &cbcReader{mode: cipher.NewCBCDecrypter(block, iv), in: pr}
	gz, err := gzip.NewReader(cr)
	if err != nil {
		return wrapReadErr(pr, cr, fmt.Errorf("bundle: not a gzip stream after decryption (wrong key?): %w", err))
	}
	digest := sha1.New() //nolint:gosec // format
	tee := io.TeeReader(gz, digest)
	tr := tar.NewReader(tee)
	hdr, err := tr.Next()
	if err != nil {
		return wrapReadErr(pr, cr, fmt.Errorf("bundle: tar: %w", err))
	}
	if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeRegA {
		return fmt.Errorf("bundle: the tar member %q is not a regular file", hdr.Name)
	}
	if hdr.Size != m.Size {
		return fmt.Errorf("bundle: the tar member %q is %d bytes, the manifest says %d", hdr.Name, hdr.Size, m.Size)
	}
	n, err := copySparse(ctx, dst, tr, hdr.Size, o.Progress)
	if err != nil {
		return wrapReadErr(pr, cr, fmt.Errorf("bundle: image data after %d bytes: %w", n, err))
	}
	// The digest covers the whole tar stream, end-of-archive blocks and record padding too.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return wrapReadErr(pr, cr, fmt.Errorf("bundle: end of the tar stream: %w", err))
	}
	if err := gz.Close(); err != nil {
		return err
	}
	if got := hex.EncodeToString(digest.Sum(nil)); got != m.Digest {
		return fmt.Errorf("bundle: the image's tar has SHA-1 %s, the manifest says %s", got, m.Digest)
	}
	// Nothing may follow the compressed stream.
	if extra, _ := io.Copy(io.Discard, cr); extra != 0 {
		return fmt.Errorf("bundle: %d stray bytes after the compressed image", extra)
	}
	if pr.err != nil && !errors.Is(pr.err, io.EOF) {
		return pr.err
	}
	if m.BundledSize > 0 && pr.total != m.BundledSize {
		return fmt.Errorf("bundle: the parts hold %d bytes, bundled_size says %d", pr.total, m.BundledSize)
	}
	return nil
}

// wrapReadErr prefers the parts' own error (a digest mismatch says more than the gzip or
// padding error it caused downstream).
func wrapReadErr(pr *partsReader, cr *cbcReader, err error) error {
	if pr.err != nil && !errors.Is(pr.err, io.EOF) {
		return pr.err
	}
	if cr.err != nil && !errors.Is(cr.err, io.EOF) {
		return fmt.Errorf("%w (%v)", cr.err, err)
	}
	return err
}

// copySparse copies size bytes from r into dst at 0, skipping all-zero 64 KiB blocks.
func copySparse(ctx context.Context, dst io.WriterAt, r io.Reader, size int64, progress func(done, total int64)) (int64, error) {
	const chunk = 1 << 20
	const sub = 64 << 10
	buf := make([]byte, chunk)
	var off int64
	for off < size {
		if err := ctx.Err(); err != nil {
			return off, err
		}
		want := min(int64(chunk), size-off)
		n, err := io.ReadFull(r, buf[:want])
		for i := 0; i < n; i += sub {
			j := min(i+sub, n)
			if !diskimage.IsZero(buf[i:j]) {
				if _, werr := dst.WriteAt(buf[i:j], off+int64(i)); werr != nil {
					return off, werr
				}
			}
		}
		off += int64(n)
		if progress != nil {
			progress(off, size)
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return off, fmt.Errorf("the image ends after %d of %d bytes", off, size)
			}
			return off, err
		}
	}
	return off, nil
}

// partsReader concatenates the parts, each read whole into memory and checked against its
// SHA-1 before any of its bytes are returned.
type partsReader struct {
	ctx   context.Context
	m     *Manifest
	open  PartSource
	next  int
	buf   []byte
	pos   int
	total int64
	err   error
}

func (r *partsReader) Read(p []byte) (int, error) {
	for r.pos >= len(r.buf) {
		if r.err != nil {
			return 0, r.err
		}
		if r.next >= len(r.m.Parts) {
			r.err = io.EOF
			return 0, io.EOF
		}
		if err := r.load(r.m.Parts[r.next]); err != nil {
			r.err = err
			return 0, err
		}
		r.next++
	}
	n := copy(p, r.buf[r.pos:])
	r.pos += n
	return n, nil
}

func (r *partsReader) load(p Part) error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	rc, err := r.open(r.ctx, p)
	if err != nil {
		return fmt.Errorf("bundle: part %d (%s): %w", p.Index, p.Filename, err)
	}
	defer rc.Close()
	buf := r.buf[:0]
	if cap(buf) == 0 {
		buf = make([]byte, 0, DefaultPartSize+aes.BlockSize)
	}
	lr := io.LimitReader(rc, maxPartSize+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		k, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("bundle: read part %d (%s): %w", p.Index, p.Filename, err)
		}
	}
	n := int64(len(buf))
	r.buf, r.pos = buf[:0], 0
	if n > maxPartSize {
		return fmt.Errorf("bundle: part %d (%s) is larger than %d MiB", p.Index, p.Filename, maxPartSize>>20)
	}
	sum := sha1.Sum(buf) //nolint:gosec // format
	if got := hex.EncodeToString(sum[:]); got != p.SHA1 {
		return fmt.Errorf("bundle: part %d (%s, %d bytes) has SHA-1 %s, the manifest says %s: the part is truncated or altered", p.Index, p.Filename, n, got, p.SHA1)
	}
	r.buf = buf
	r.total += n
	return nil
}

// cbcReader decrypts AES-CBC and strips the PKCS#7 padding of the last block.
type cbcReader struct {
	mode cipher.BlockMode
	in   io.Reader
	raw  []byte // undecrypted input, a multiple of the block size is decrypted at a time
	out  []byte // decrypted, not yet returned
	hold []byte // the last decrypted block, held back until the end is known
	eof  bool
	err  error
}

func (c *cbcReader) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		if c.eof {
			c.err = io.EOF
			return 0, io.EOF
		}
		c.fill()
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

func (c *cbcReader) fill() {
	buf := make([]byte, 256<<10)
	n, err := io.ReadAtLeast(c.in, buf, aes.BlockSize)
	c.raw = append(c.raw, buf[:n]...)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		c.err = err
		return
	}
	atEnd := err != nil
	full := len(c.raw) / aes.BlockSize * aes.BlockSize
	dec := make([]byte, full)
	c.mode.CryptBlocks(dec, c.raw[:full])
	c.raw = append(c.raw[:0], c.raw[full:]...)
	data := append(c.hold, dec...)
	if !atEnd {
		if len(data) >= aes.BlockSize {
			c.hold = append([]byte(nil), data[len(data)-aes.BlockSize:]...)
			c.out = data[:len(data)-aes.BlockSize]
		} else {
			c.hold = data
		}
		return
	}
	c.eof = true
	if len(c.raw) != 0 || len(data) == 0 || len(data)%aes.BlockSize != 0 {
		c.err = errors.New("bundle: the encrypted stream is not a whole number of AES blocks (a part is missing or truncated)")
		return
	}
	pad := int(data[len(data)-1])
	if pad < 1 || pad > aes.BlockSize || !bytes.Equal(data[len(data)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		c.err = errors.New("bundle: bad padding after decryption (wrong key or altered data)")
		return
	}
	c.out = data[:len(data)-pad]
	c.hold = nil
}
