package ec2emu

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Payload hash markers of SigV4 (x-amz-content-sha256 values).
const (
	unsignedPayload         = "UNSIGNED-PAYLOAD"
	streamingSigned         = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingSignedTrailer  = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	streamingUnsignedTrailr = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	emptySHA256             = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	sigAlgorithm            = "AWS4-HMAC-SHA256"
	amzDateFormat           = "20060102T150405Z"
	maxClockSkew            = 15 * time.Minute
)

// timeNow is the clock signatures are checked against (tests replay AWS's dated examples).
var timeNow = time.Now

// sigInfo is what a verified signature tells the rest of the request handling: the values
// needed to verify streaming chunk signatures.
type sigInfo struct {
	signingKey []byte
	scope      string
	amzDate    string
	seed       string // the request signature, first "previous signature" of a chunk chain
	accessKey  string // the credential's access key (static or temporary)
}

// authError is a signature failure, mapped to each protocol's error code by the caller.
type authError struct {
	unknownKey bool
	skew       bool
	msg        string
}

func (e *authError) Error() string { return e.msg }

// verifySigV4 checks the request's SigV4 signature (Authorization header or presigned
// query). payloadHash is the hash the client must have signed: the x-amz-content-sha256
// header value when present, else what the caller computed or knows (UNSIGNED-PAYLOAD).
// s3 selects S3's single URI encoding of the path.
func (s *Server) verifySigV4(r *http.Request, payloadHash string, s3 bool) (*sigInfo, *authError) {
	var (
		credential, signedHeaders, signature, amzDate string
		presigned                                     bool
	)
	q := r.URL.Query()
	if auth := r.Header.Get("Authorization"); auth != "" {
		alg, rest, _ := strings.Cut(auth, " ")
		if alg != sigAlgorithm {
			return nil, &authError{msg: "unsupported authorization type " + alg}
		}
		for _, part := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			switch k {
			case "Credential":
				credential = v
			case "SignedHeaders":
				signedHeaders = v
			case "Signature":
				signature = v
			}
		}
		amzDate = r.Header.Get("X-Amz-Date")
	} else if q.Get("X-Amz-Algorithm") != "" {
		if q.Get("X-Amz-Algorithm") != sigAlgorithm {
			return nil, &authError{msg: "unsupported algorithm " + q.Get("X-Amz-Algorithm")}
		}
		presigned = true
		credential = q.Get("X-Amz-Credential")
		signedHeaders = q.Get("X-Amz-SignedHeaders")
		signature = q.Get("X-Amz-Signature")
		amzDate = q.Get("X-Amz-Date")
		if payloadHash == "" {
			payloadHash = unsignedPayload
		}
	} else {
		return nil, &authError{msg: "request is not signed"}
	}
	if credential == "" || signedHeaders == "" || signature == "" || amzDate == "" {
		return nil, &authError{msg: "incomplete SigV4 authorization"}
	}
	cp := strings.Split(credential, "/")
	if len(cp) != 5 || cp[4] != "aws4_request" {
		return nil, &authError{msg: "malformed credential " + credential}
	}
	token := r.Header.Get("X-Amz-Security-Token")
	if presigned {
		token = q.Get("X-Amz-Security-Token")
	}
	secret, aerr := s.secretFor(cp[0], token)
	if aerr != nil {
		return nil, aerr
	}
	t, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return nil, &authError{msg: "bad X-Amz-Date " + amzDate}
	}
	if !strings.HasPrefix(amzDate, cp[1]) {
		return nil, &authError{msg: "credential date does not match X-Amz-Date"}
	}
	if presigned {
		exp, _ := strconv.Atoi(q.Get("X-Amz-Expires"))
		if timeNow().After(t.Add(time.Duration(exp) * time.Second)) {
			return nil, &authError{skew: true, msg: "presigned request expired"}
		}
	} else if d := timeNow().Sub(t); d > maxClockSkew || d < -maxClockSkew {
		return nil, &authError{skew: true, msg: "request time too skewed"}
	}

	// Canonical request.
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	if !s3 {
		path = uriEncode(path, false)
	}
	type kv struct{ k, v string }
	var qs []kv
	for k, vs := range q {
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		for _, v := range vs {
			qs = append(qs, kv{uriEncode(k, true), uriEncode(v, true)})
		}
	}
	sort.Slice(qs, func(i, j int) bool {
		if qs[i].k != qs[j].k {
			return qs[i].k < qs[j].k
		}
		return qs[i].v < qs[j].v
	})
	var cq strings.Builder
	for i, p := range qs {
		if i > 0 {
			cq.WriteByte('&')
		}
		cq.WriteString(p.k + "=" + p.v)
	}
	var ch strings.Builder
	for _, h := range strings.Split(signedHeaders, ";") {
		var vals []string
		switch h {
		case "host":
			vals = []string{r.Host}
		case "content-length":
			if v := r.Header.Get("Content-Length"); v != "" {
				vals = []string{v}
			} else {
				vals = []string{strconv.FormatInt(r.ContentLength, 10)}
			}
		default:
			vals = r.Header.Values(h)
			if h == "transfer-encoding" && len(vals) == 0 && len(r.TransferEncoding) > 0 {
				vals = r.TransferEncoding
			}
		}
		ch.WriteString(h + ":")
		for i, v := range vals {
			if i > 0 {
				ch.WriteByte(',')
			}
			ch.WriteString(strings.Join(strings.Fields(v), " "))
		}
		ch.WriteByte('\n')
	}
	canonical := strings.Join([]string{r.Method, path, cq.String(), ch.String(), signedHeaders, payloadHash}, "\n")
	scope := strings.Join(cp[1:], "/")
	sum := sha256.Sum256([]byte(canonical))
	toSign := sigAlgorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	key := signingKey(secret, cp[1], cp[2], cp[3])
	want := hex.EncodeToString(hmacSHA256(key, toSign))
	if !hmac.Equal([]byte(want), []byte(signature)) {
		s.logf("signature mismatch; canonical request:\n%s", canonical)
		return nil, &authError{msg: "The request signature we calculated does not match the signature you provided."}
	}
	return &sigInfo{signingKey: key, scope: scope, amzDate: amzDate, seed: signature, accessKey: cp[0]}, nil
}

func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, "aws4_request")
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// chunkSignature computes the signature of one aws-chunked chunk in the
// STREAMING-AWS4-HMAC-SHA256-PAYLOAD mode.
func (si *sigInfo) chunkSignature(prev string, data []byte) string {
	h := sha256.Sum256(data)
	toSign := strings.Join([]string{"AWS4-HMAC-SHA256-PAYLOAD", si.amzDate, si.scope, prev, emptySHA256, hex.EncodeToString(h[:])}, "\n")
	return hex.EncodeToString(hmacSHA256(si.signingKey, toSign))
}

// trailerSignature computes the signature of the trailing headers in the
// STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER mode.
func (si *sigInfo) trailerSignature(prev string, trailer []byte) string {
	h := sha256.Sum256(trailer)
	toSign := strings.Join([]string{"AWS4-HMAC-SHA256-TRAILER", si.amzDate, si.scope, prev, hex.EncodeToString(h[:])}, "\n")
	return hex.EncodeToString(hmacSHA256(si.signingKey, toSign))
}

// uriEncode percent-encodes every byte but the RFC 3986 unreserved ones (and '/' unless
// encodeSlash), as SigV4 requires.
func uriEncode(s string, encodeSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || (c == '/' && !encodeSlash) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
