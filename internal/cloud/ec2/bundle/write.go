package bundle

import (
	"archive/tar"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // the bundle format is defined with SHA-1
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/klauspost/compress/gzip"
)

// WriteOptions describe a bundle to make.
type WriteOptions struct {
	// Name is the image file name: the tar member and the manifest's image name. Required.
	Name string
	// Prefix names the parts (<Prefix>.part.NN) and the manifest; default Name.
	Prefix string
	// User is the owner's account id.
	User string
	// Architecture defaults to x86_64; Type to machine.
	Architecture, Type  string
	KernelID, RamdiskID string
	// AncestorAMIIDs are written as the manifest's <ancestry>: the image this one is
	// rebundled from, then that image's own ancestors (see Ancestry). At most MaxAncestors.
	AncestorAMIIDs []string
	// BlockDevices maps virtual names to devices, e.g. ami → sda1, root → /dev/sda1.
	BlockDevices map[string]string
	// SignKey signs the manifest (the user's key, or the cloud's for BundleInstance).
	SignKey *rsa.PrivateKey
	// CloudCert and UserCert receive the wrapped AES key and IV. CloudCert is required;
	// without UserCert the user's copy is wrapped to CloudCert too.
	CloudCert, UserCert *x509.Certificate
	// PartSize defaults to DefaultPartSize.
	PartSize int
	// Progress, when set, is told the image bytes read so far.
	Progress func(done int64)
}

// PartSink receives each finished part in order. data is only valid during the call.
type PartSink func(p Part, data []byte) error

// ManifestName is the manifest's object name for a prefix.
func ManifestName(prefix string) string { return prefix + ".manifest.xml" }

// Write bundles size bytes of src. Parts go to sink as they fill; it returns the manifest
// and its signed XML text. Memory use is one part.
func Write(ctx context.Context, src io.Reader, size int64, o WriteOptions, sink PartSink) (*Manifest, []byte, error) {
	if o.Name == "" {
		return nil, nil, errors.New("bundle: no image name")
	}
	if o.SignKey == nil || o.CloudCert == nil {
		return nil, nil, errors.New("bundle: a signing key and the cloud certificate are required")
	}
	if o.Prefix == "" {
		o.Prefix = o.Name
	}
	if _, err := parseAncestors(o.AncestorAMIIDs); err != nil || len(o.AncestorAMIIDs) > MaxAncestors {
		return nil, nil, fmt.Errorf("bundle: ancestor ids %v: want at most %d image ids", o.AncestorAMIIDs, MaxAncestors)
	}
	if o.Architecture == "" {
		o.Architecture = "x86_64"
	}
	if o.Type == "" {
		o.Type = "machine"
	}
	if o.PartSize <= 0 {
		o.PartSize = DefaultPartSize
	}
	userCert := o.UserCert
	if userCert == nil {
		userCert = o.CloudCert
	}
	key, iv := make([]byte, 16), make([]byte, 16)
	if _, err := rand.Read(key); err != nil {
		return nil, nil, err
	}
	if _, err := rand.Read(iv); err != nil {
		return nil, nil, err
	}
	m := &Manifest{Version: ManifestVersion, Architecture: o.Architecture, KernelID: o.KernelID, RamdiskID: o.RamdiskID,
		BlockDevices: o.BlockDevices, Name: o.Name, User: o.User, Type: o.Type, Size: size, AncestorAMIIDs: o.AncestorAMIIDs}
	var err error
	for _, w := range []struct {
		dst  *string
		cert *x509.Certificate
		v    []byte
	}{{&m.EC2Key, o.CloudCert, key}, {&m.EC2IV, o.CloudCert, iv}, {&m.UserKey, userCert, key}, {&m.UserIV, userCert, iv}} {
		if *w.dst, err = wrap(w.cert, w.v); err != nil {
			return nil, nil, fmt.Errorf("bundle: wrap the key: %w", err)
		}
	}

	pw := &partWriter{buf: make([]byte, 0, o.PartSize), prefix: o.Prefix, sink: sink}
	block, _ := aes.NewCipher(key)
	cw := &cbcWriter{mode: cipher.NewCBCEncrypter(block, iv), out: pw}
	gz, err := gzip.NewWriterLevel(cw, gzip.BestSpeed)
	if err != nil {
		return nil, nil, err
	}
	digest := sha1.New() //nolint:gosec // format
	tw := tar.NewWriter(io.MultiWriter(digest, gz))
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: o.Name, Mode: 0o644, Size: size, ModTime: time.Now().Truncate(time.Second),
		Uname: "root", Gname: "root"}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, nil, fmt.Errorf("bundle: tar header: %w", err)
	}
	n, err := io.CopyBuffer(tw, &ctxReader{ctx: ctx, r: io.LimitReader(src, size), progress: o.Progress}, make([]byte, 1<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("bundle: read the image: %w", err)
	}
	if n != size {
		return nil, nil, fmt.Errorf("bundle: the image ended after %d of %d bytes", n, size)
	}
	for _, c := range []io.Closer{tw, gz, cw} {
		if err := c.Close(); err != nil {
			return nil, nil, fmt.Errorf("bundle: %w", err)
		}
	}
	if err := pw.flush(); err != nil {
		return nil, nil, err
	}
	m.Digest = hex.EncodeToString(digest.Sum(nil))
	m.Parts = pw.parts
	m.BundledSize = pw.total
	xmlText, err := m.render(o.SignKey)
	if err != nil {
		return nil, nil, err
	}
	return m, xmlText, nil
}

// ctxReader stops a copy when ctx ends and reports progress.
type ctxReader struct {
	ctx      context.Context
	r        io.Reader
	done     int64
	progress func(int64)
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	c.done += int64(n)
	if c.progress != nil && n > 0 {
		c.progress(c.done)
	}
	return n, err
}

// partWriter cuts the encrypted stream into parts.
type partWriter struct {
	buf    []byte
	prefix string
	sink   PartSink
	parts  []Part
	total  int64
}

func (w *partWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(cap(w.buf)-len(w.buf), len(p))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == cap(w.buf) {
			if err := w.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (w *partWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	sum := sha1.Sum(w.buf) //nolint:gosec // format
	p := Part{Index: len(w.parts), Filename: fmt.Sprintf("%s.part.%02d", w.prefix, len(w.parts)), SHA1: hex.EncodeToString(sum[:]), Size: int64(len(w.buf))}
	if err := w.sink(p, w.buf); err != nil {
		return fmt.Errorf("bundle: store %s: %w", p.Filename, err)
	}
	w.parts = append(w.parts, p)
	w.total += p.Size
	w.buf = w.buf[:0]
	return nil
}

// cbcWriter encrypts with AES-CBC and PKCS#7 padding (as openssl enc).
type cbcWriter struct {
	mode    cipher.BlockMode
	pending []byte
	out     io.Writer
	tmp     []byte
}

func (c *cbcWriter) Write(p []byte) (int, error) {
	n := len(p)
	c.pending = append(c.pending, p...)
	full := len(c.pending) / aes.BlockSize * aes.BlockSize
	if full > 0 {
		if cap(c.tmp) < full {
			c.tmp = make([]byte, full)
		}
		out := c.tmp[:full]
		c.mode.CryptBlocks(out, c.pending[:full])
		if _, err := c.out.Write(out); err != nil {
			return 0, err
		}
		c.pending = append(c.pending[:0], c.pending[full:]...)
	}
	return n, nil
}

func (c *cbcWriter) Close() error {
	pad := aes.BlockSize - len(c.pending)
	for range pad {
		c.pending = append(c.pending, byte(pad))
	}
	out := make([]byte, aes.BlockSize)
	c.mode.CryptBlocks(out, c.pending)
	c.pending = c.pending[:0]
	_, err := c.out.Write(out)
	return err
}
