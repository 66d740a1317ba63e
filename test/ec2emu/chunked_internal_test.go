package ec2emu

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestChunkSignatureAWSExample checks the STREAMING-AWS4-HMAC-SHA256-PAYLOAD chunk signature
// chain against the example in AWS's S3 documentation ("Signature calculation: transfer
// payload in multiple chunks"): 66560 bytes of 'a' in chunks of 65536 and 1024 bytes.
func TestChunkSignatureAWSExample(t *testing.T) {
	si := &sigInfo{
		signingKey: signingKey("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524", "us-east-1", "s3"),
		scope:      "20130524/us-east-1/s3/aws4_request",
		amzDate:    "20130524T000000Z",
	}
	prev := "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
	for i, c := range []struct {
		n    int
		want string
	}{
		{65536, "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"},
		{1024, "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"},
		{0, "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"},
	} {
		got := si.chunkSignature(prev, []byte(strings.Repeat("a", c.n)))
		if got != c.want {
			t.Fatalf("chunk %d: signature %s, want %s", i, got, c.want)
		}
		prev = got
	}
}

// TestSignedChunkedBodyAWSExample replays the whole AWS example request: the seed signature
// is verified from the headers, then the aws-chunked body is decoded with its chunk
// signatures; a tampered chunk is refused.
func TestSignedChunkedBodyAWSExample(t *testing.T) {
	old := timeNow
	timeNow = func() time.Time { return time.Date(2013, 5, 24, 0, 1, 0, 0, time.UTC) }
	defer func() { timeNow = old }()
	s := &Server{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
	sigs := []string{"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
		"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
		"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"}
	body := func(tamper bool) string {
		var b strings.Builder
		for i, n := range []int{65536, 1024, 0} {
			fmt.Fprintf(&b, "%x;chunk-signature=%s\r\n", n, sigs[i])
			data := strings.Repeat("a", n)
			if tamper && i == 1 {
				data = "b" + data[1:]
			}
			b.WriteString(data + "\r\n")
		}
		return b.String()
	}
	for _, tamper := range []bool{false, true} {
		b := body(tamper)
		if len(b) != 66824 {
			t.Fatalf("example body is %d bytes, want 66824", len(b))
		}
		r := httptest.NewRequest("PUT", "http://s3.amazonaws.com/examplebucket/chunkObject.txt", strings.NewReader(b))
		r.Host = "s3.amazonaws.com"
		r.Header.Set("X-Amz-Date", "20130524T000000Z")
		r.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
		r.Header.Set("X-Amz-Content-Sha256", streamingSigned)
		r.Header.Set("Content-Encoding", "aws-chunked")
		r.Header.Set("X-Amz-Decoded-Content-Length", "66560")
		r.Header.Set("Content-Length", "66824")
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"+
			"SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,"+
			"Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")
		si, ae := s.verifySigV4(r, streamingSigned, true)
		if ae != nil {
			t.Fatalf("seed signature: %v", ae)
		}
		rc := &reqCtx{s: s, r: r, sig: si, service: "s3"}
		var out bytes.Buffer
		p, e := rc.readS3Body(&out)
		if tamper {
			if e == nil || e.Code != "SignatureDoesNotMatch" {
				t.Fatalf("tampered chunk accepted: %v", e)
			}
			continue
		}
		if e != nil {
			t.Fatal(e)
		}
		if p.size != 66560 || out.String() != strings.Repeat("a", 66560) {
			t.Fatalf("decoded %d bytes", p.size)
		}
	}
}

// TestUnsignedTrailerChecksum: STREAMING-UNSIGNED-PAYLOAD-TRAILER bodies are decoded and
// their trailing checksum verified.
func TestUnsignedTrailerChecksum(t *testing.T) {
	h := newChecksum("crc32")
	h.Write([]byte("hello world"))
	good := base64.StdEncoding.EncodeToString(h.Sum(nil))
	for _, sum := range []string{good, "AAAAAA=="} {
		body := "6\r\nhello \r\n5\r\nworld\r\n0\r\nx-amz-checksum-crc32:" + sum + "\r\n\r\n"
		r := httptest.NewRequest("PUT", "http://127.0.0.1/b/k", strings.NewReader(body))
		r.Header.Set("X-Amz-Content-Sha256", streamingUnsignedTrailr)
		r.Header.Set("Content-Encoding", "aws-chunked")
		r.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
		r.Header.Set("X-Amz-Decoded-Content-Length", "11")
		rc := &reqCtx{r: r, service: "s3"}
		var out bytes.Buffer
		p, e := rc.readS3Body(&out)
		if sum != good {
			if e == nil || e.Code != "BadDigest" {
				t.Fatalf("bad trailer checksum accepted: %v", e)
			}
			continue
		}
		if e != nil || out.String() != "hello world" || p.checksums["crc32"] != good {
			t.Fatalf("decode: %v %q %v", e, out.String(), p)
		}
	}
}
