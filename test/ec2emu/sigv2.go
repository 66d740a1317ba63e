package ec2emu

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"sort"
	"strings"
)

// s3V2SubResources are the query parameters signed as part of the resource with signature
// version 2 (Amazon S3 REST authentication, "Constructing the CanonicalizedResource").
var s3V2SubResources = []string{
	"acl", "cors", "delete", "lifecycle", "location", "logging", "notification", "partNumber", "policy",
	"requestPayment", "response-cache-control", "response-content-disposition", "response-content-encoding",
	"response-content-language", "response-content-type", "response-expires", "restore", "tagging",
	"torrent", "uploadId", "uploads", "versionId", "versioning", "versions", "website",
}

// verifySigV2 checks an S3 request signed with AWS signature version 2, as the object
// storage of Eucalyptus before 4.4 does: "Authorization: AWS key:signature", the date from
// x-amz-date or else Date, and the resource with the service path (path-style), then, as
// Eucalyptus retries, without it. Version 4 is refused.
func (s *Server) verifySigV2(r *http.Request, servicePath string) *authError {
	auth := r.Header.Get("Authorization")
	if strings.HasPrefix(auth, sigAlgorithm) {
		return &authError{msg: "signature version 4 is not supported by this object storage (Eucalyptus before 4.4): sign with version 2"}
	}
	cred, ok := strings.CutPrefix(auth, "AWS ")
	if !ok {
		return &authError{msg: "request is not signed with signature version 2"}
	}
	key, sig, ok := strings.Cut(cred, ":")
	if !ok || sig == "" {
		return &authError{msg: "malformed Authorization header"}
	}
	if key != s.AccessKeyID {
		return &authError{unknownKey: true, msg: "unknown access key " + key}
	}
	date := r.Header.Get("X-Amz-Date")
	if date == "" {
		date = r.Header.Get("Date")
	}
	t, err := http.ParseTime(date)
	if err != nil {
		return &authError{msg: "no valid Date or x-amz-date header"}
	}
	if d := timeNow().Sub(t); d > maxClockSkew || d < -maxClockSkew {
		return &authError{skew: true, msg: "the difference between the request time and the current time is too large"}
	}
	path, _, _ := strings.Cut(r.RequestURI, "?")
	head := r.Method + "\n" + r.Header.Get("Content-MD5") + "\n" + r.Header.Get("Content-Type") + "\n" + date + "\n" + amzHeadersV2(r.Header)
	sub := subResourcesV2(r)
	tries := []string{path}
	if servicePath != "" && strings.HasPrefix(path, servicePath) {
		tries = append(tries, strings.TrimPrefix(path, servicePath))
	}
	for _, p := range tries {
		if p == "" {
			p = "/"
		}
		mac := hmac.New(sha1.New, []byte(s.SecretAccessKey))
		mac.Write([]byte(head + p + sub))
		if hmac.Equal([]byte(base64.StdEncoding.EncodeToString(mac.Sum(nil))), []byte(sig)) {
			return nil
		}
	}
	return &authError{msg: "The request signature we calculated does not match the signature you provided (version 2, string to sign " +
		strings.ReplaceAll(head+tries[0]+sub, "\n", `\n`) + ")"}
}

// amzHeadersV2 is the canonical x-amz-* header block: names lower-cased and sorted, one
// "name:value\n" each, values trimmed and repeated ones joined by ",".
func amzHeadersV2(h http.Header) string {
	vals := map[string][]string{}
	for k, vs := range h {
		if k = strings.ToLower(k); strings.HasPrefix(k, "x-amz-") {
			for _, v := range vs {
				vals[k] = append(vals[k], strings.TrimSpace(v))
			}
		}
	}
	names := make([]string, 0, len(vals))
	for k := range vals {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		b.WriteString(k + ":" + strings.Join(vals[k], ",") + "\n")
	}
	return b.String()
}

// subResourcesV2 is "?name[=value]&..." of the request's sub-resources in name order, or "".
func subResourcesV2(r *http.Request) string {
	q := r.URL.Query()
	var parts []string
	for _, name := range s3V2SubResources { // already in order
		vs, ok := q[name]
		if !ok {
			continue
		}
		if len(vs) == 0 || vs[0] == "" {
			parts = append(parts, name)
		} else {
			parts = append(parts, name+"="+vs[0])
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "?" + strings.Join(parts, "&")
}
