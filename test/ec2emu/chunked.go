package ec2emu

import (
	"bufio"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"strconv"
	"strings"
)

// checksum algorithms S3 accepts in x-amz-checksum-* headers and trailers.
var crc64NVMETable = crc64.MakeTable(0x9a6c9329ac4bc9b5)

func newChecksum(alg string) hash.Hash {
	switch strings.ToLower(alg) {
	case "crc32":
		return crc32.NewIEEE()
	case "crc32c":
		return crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case "crc64nvme":
		return crc64.New(crc64NVMETable)
	case "sha1":
		return sha1.New()
	case "sha256":
		return sha256.New()
	}
	return nil
}

var checksumAlgs = []string{"crc32", "crc32c", "crc64nvme", "sha1", "sha256"}

// s3Payload is a decoded S3 request body with the digests computed while reading it.
type s3Payload struct {
	size      int64
	md5       []byte
	checksums map[string]string // alg → base64 value, verified
}

// readS3Body decodes the request body according to its x-amz-content-sha256 mode, copies
// the payload to dst and verifies every digest the client declared: the signed SHA-256,
// aws-chunked chunk signatures, Content-MD5 and x-amz-checksum-* (header or trailer).
func (rc *reqCtx) readS3Body(dst io.Writer) (*s3Payload, *apiError) {
	r := rc.r
	mode := r.Header.Get("X-Amz-Content-Sha256")
	var src io.Reader = r.Body
	var chunk *chunkReader
	switch mode {
	case streamingSigned, streamingSignedTrailer, streamingUnsignedTrailr:
		chunk = &chunkReader{br: bufio.NewReaderSize(r.Body, 64<<10), sig: rc.sig,
			signed: mode != streamingUnsignedTrailr, trailer: mode != streamingSigned}
		if rc.sig != nil {
			chunk.prev = rc.sig.seed
		}
		src = chunk
	}
	hashers := map[string]hash.Hash{}
	var declared = map[string]string{}
	for _, a := range checksumAlgs {
		if v := r.Header.Get("X-Amz-Checksum-" + a); v != "" {
			declared[a] = v
			hashers[a] = newChecksum(a)
		}
	}
	if tr := r.Header.Get("X-Amz-Trailer"); tr != "" {
		for _, name := range strings.Split(tr, ",") {
			a := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(name)), "x-amz-checksum-")
			if h := newChecksum(a); h != nil {
				hashers[a] = h
			}
		}
	}
	md5h := md5.New()
	sha := sha256.New()
	ws := []io.Writer{dst, md5h}
	checkSHA := mode != "" && mode != unsignedPayload && chunk == nil
	if checkSHA {
		ws = append(ws, sha)
	}
	for _, h := range hashers {
		ws = append(ws, h)
	}
	n, err := io.Copy(io.MultiWriter(ws...), src)
	if err != nil {
		if ae, ok := err.(*apiError); ok {
			return nil, ae
		}
		return nil, errf(400, "IncompleteBody", "reading body: %v", err)
	}
	if chunk != nil {
		if dl := r.Header.Get("X-Amz-Decoded-Content-Length"); dl != "" {
			if want, _ := strconv.ParseInt(dl, 10, 64); want != n {
				return nil, errf(400, "IncompleteBody", "decoded length %d != x-amz-decoded-content-length %s", n, dl)
			}
		}
		for k, v := range chunk.trailers {
			a := strings.TrimPrefix(k, "x-amz-checksum-")
			if a != k {
				declared[a] = v
			}
		}
	} else if r.ContentLength >= 0 && n != r.ContentLength {
		return nil, errf(400, "IncompleteBody", "body shorter than Content-Length")
	}
	if checkSHA && hex.EncodeToString(sha.Sum(nil)) != mode {
		return nil, errf(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	p := &s3Payload{size: n, md5: md5h.Sum(nil), checksums: map[string]string{}}
	if cm := r.Header.Get("Content-MD5"); cm != "" && cm != base64.StdEncoding.EncodeToString(p.md5) {
		return nil, errf(400, "BadDigest", "The Content-MD5 you specified did not match what we received.")
	}
	for a, want := range declared {
		h := hashers[a]
		if h == nil {
			continue
		}
		got := base64.StdEncoding.EncodeToString(h.Sum(nil))
		if got != want {
			return nil, errf(400, "BadDigest", "The %s you specified did not match the calculated checksum.", strings.ToUpper(a))
		}
		p.checksums[a] = got
	}
	return p, nil
}

// chunkReader decodes Content-Encoding: aws-chunked bodies, verifying chunk signatures in the
// signed modes and collecting the trailing headers.
type chunkReader struct {
	br       *bufio.Reader
	sig      *sigInfo
	signed   bool
	trailer  bool
	prev     string
	left     int64
	buf      []byte // current chunk (signed mode buffers it to verify before release)
	done     bool
	trailers map[string]string
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.buf) == 0 && c.left == 0 {
		if c.done {
			return 0, io.EOF
		}
		if err := c.next(); err != nil {
			return 0, err
		}
	}
	if len(c.buf) > 0 {
		n := copy(p, c.buf)
		c.buf = c.buf[n:]
		return n, nil
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.br.Read(p)
	c.left -= int64(n)
	if err == io.EOF && c.left > 0 {
		return n, io.ErrUnexpectedEOF
	}
	if c.left == 0 {
		if err := c.crlf(); err != nil {
			return n, err
		}
	}
	return n, nil
}

func (c *chunkReader) line() (string, error) {
	s, err := c.br.ReadString('\n')
	if err != nil {
		if err == io.EOF && s == "" {
			return "", io.EOF
		}
		if err != io.EOF {
			return "", err
		}
	}
	return strings.TrimRight(s, "\r\n"), nil
}

func (c *chunkReader) crlf() error {
	s, err := c.line()
	if err != nil || s != "" {
		return errf(400, "IncompleteBody", "aws-chunked: missing CRLF after chunk")
	}
	return nil
}

// next reads a chunk header (and, when signed, the whole chunk).
func (c *chunkReader) next() error {
	h, err := c.line()
	if err != nil {
		return errf(400, "IncompleteBody", "aws-chunked: %v", err)
	}
	sizeStr, ext, _ := strings.Cut(h, ";")
	size, err := strconv.ParseInt(strings.TrimSpace(sizeStr), 16, 64)
	if err != nil || size < 0 {
		return errf(400, "InvalidChunkSizeError", "aws-chunked: bad chunk header %q", h)
	}
	if c.signed {
		sig := strings.TrimPrefix(ext, "chunk-signature=")
		data := make([]byte, size)
		if _, err := io.ReadFull(c.br, data); err != nil {
			return errf(400, "IncompleteBody", "aws-chunked: %v", err)
		}
		if c.sig == nil || c.sig.chunkSignature(c.prev, data) != sig {
			return errf(403, "SignatureDoesNotMatch", "aws-chunked: chunk signature mismatch")
		}
		c.prev = sig
		if size > 0 {
			if err := c.crlf(); err != nil {
				return err
			}
			c.buf = data
			return nil
		}
	} else if size > 0 {
		c.left = size
		return nil
	}
	// Final chunk: trailers until an empty line.
	c.done = true
	c.trailers = map[string]string{}
	var raw strings.Builder
	sawSig := false
	for {
		l, err := c.line()
		if err == io.EOF || l == "" {
			break
		}
		if err != nil {
			return errf(400, "IncompleteBody", "aws-chunked trailer: %v", err)
		}
		k, v, _ := strings.Cut(l, ":")
		k = strings.ToLower(strings.TrimSpace(k))
		if k == "x-amz-trailer-signature" {
			sawSig = true
			if c.signed && (c.sig == nil || c.sig.trailerSignature(c.prev, []byte(raw.String())) != strings.TrimSpace(v)) {
				return errf(403, "SignatureDoesNotMatch", "aws-chunked: trailer signature mismatch")
			}
			continue
		}
		raw.WriteString(k + ":" + strings.TrimSpace(v) + "\n")
		c.trailers[k] = strings.TrimSpace(v)
	}
	if c.signed && c.trailer && len(c.trailers) > 0 && !sawSig {
		return errf(403, "SignatureDoesNotMatch", "aws-chunked: trailer without x-amz-trailer-signature")
	}
	return nil
}
