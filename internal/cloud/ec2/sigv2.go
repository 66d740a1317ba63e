package ec2

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// S3 signature version 2 (HMAC-SHA1 of the REST string to sign, "Authorization: AWS
// key:signature"), for Eucalyptus object storage before 4.4, which accepts no other.
// aws-sdk-go-v2 signs only with version 4, so the S3 client's signing step is swapped for
// sigV2. Written here because no maintained Go library provides it for SDK v2.

// sigV2 is the finalize middleware that signs each attempt of an S3 request.
type sigV2 struct {
	creds aws.CredentialsProvider
}

// useSigV2 returns the S3 client option that replaces version 4 signing with sigV2.
func useSigV2(creds aws.CredentialsProvider) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		_, err := st.Finalize.Swap("Signing", &sigV2{creds: creds})
		return err
	}
}

func (*sigV2) ID() string { return "Signing" }

func (m *sigV2) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (
	middleware.FinalizeOutput, middleware.Metadata, error) {
	req, ok := in.Request.(*smithyhttp.Request)
	if !ok {
		return middleware.FinalizeOutput{}, middleware.Metadata{}, fmt.Errorf("sigv2: unexpected transport %T", in.Request)
	}
	if m.creds == nil {
		return middleware.FinalizeOutput{}, middleware.Metadata{}, fmt.Errorf("sigv2: no credentials")
	}
	c, err := m.creds.Retrieve(ctx)
	if err != nil {
		return middleware.FinalizeOutput{}, middleware.Metadata{}, fmt.Errorf("sigv2: credentials: %w", err)
	}
	// Date only: servers disagree on where an x-amz-date goes in the string to sign.
	req.Header.Del("X-Amz-Date")
	req.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	if c.SessionToken != "" {
		req.Header.Set("X-Amz-Security-Token", c.SessionToken)
	}
	req.Header.Set("Authorization", "AWS "+c.AccessKeyID+":"+signV2(c.SecretAccessKey, stringToSignV2(req.Method, req.Header, req.URL)))
	return next.HandleFinalize(ctx, in)
}

// signV2 is the base64 HMAC-SHA1 of the string to sign under secret.
func signV2(secret, stringToSign string) string {
	h := hmac.New(sha1.New, []byte(secret))
	h.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// v2SubResources are the query parameters that are part of the resource signed with
// version 2; the others (prefix, list-type, x-id...) are not signed.
var v2SubResources = map[string]bool{
	"acl": true, "cors": true, "delete": true, "lifecycle": true, "location": true, "logging": true,
	"notification": true, "partNumber": true, "policy": true, "requestPayment": true, "restore": true,
	"tagging": true, "torrent": true, "uploadId": true, "uploads": true, "versionId": true,
	"versioning": true, "versions": true, "website": true,
	"response-cache-control": true, "response-content-disposition": true, "response-content-encoding": true,
	"response-content-language": true, "response-content-type": true, "response-expires": true,
}

// stringToSignV2 builds the version 2 string to sign of a path-style request: verb,
// Content-MD5, Content-Type, Date, the x-amz-* headers (lower-cased, sorted, repeated values
// joined by commas) and the resource (the path as sent, then the sub-resources, sorted).
func stringToSignV2(method string, h http.Header, u *url.URL) string {
	var b strings.Builder
	b.WriteString(method + "\n" + h.Get("Content-MD5") + "\n" + h.Get("Content-Type") + "\n" + h.Get("Date") + "\n")
	amz := map[string][]string{}
	for k, vs := range h {
		lk := strings.ToLower(k)
		if !strings.HasPrefix(lk, "x-amz-") {
			continue
		}
		for _, v := range vs {
			amz[lk] = append(amz[lk], strings.TrimSpace(v))
		}
	}
	names := make([]string, 0, len(amz))
	for k := range amz {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		b.WriteString(k + ":" + strings.Join(amz[k], ",") + "\n")
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	b.WriteString(path)
	var subs []string
	for k, vs := range u.Query() {
		if !v2SubResources[k] {
			continue
		}
		if len(vs) == 0 || vs[0] == "" {
			subs = append(subs, k)
		} else {
			subs = append(subs, k+"="+vs[0])
		}
	}
	sort.Strings(subs)
	if len(subs) > 0 {
		b.WriteString("?" + strings.Join(subs, "&"))
	}
	return b.String()
}
