package ec2emu

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const s3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/"

type s3Object struct {
	path        string
	size        int64
	etag        string // quoted
	modified    time.Time
	contentType string
	meta        map[string]string
	checksums   map[string]string // full-object checksums (single PutObject only)
	parts       int
}

type s3Part struct {
	path      string
	size      int64
	etag      string
	md5       []byte
	checksums map[string]string
}

type s3Upload struct {
	id, key     string
	contentType string
	meta        map[string]string
	parts       map[int]*s3Part
	created     time.Time
}

type s3Bucket struct {
	name    string
	created time.Time
	objects map[string]*s3Object
	uploads map[string]*s3Upload
}

func (s *Server) s3dir(sub string) string {
	d := filepath.Join(s.dir, sub)
	os.MkdirAll(d, 0o755)
	return d
}

// s3object returns an object (nil when absent). The caller holds s.mu.
func (s *Server) s3object(bucket, key string) *s3Object {
	b := s.st.buckets[bucket]
	if b == nil {
		return nil
	}
	return b.objects[key]
}

// CreateBucket creates a bucket directly (tests' seeding).
func (s *Server) CreateBucket(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.buckets[name] == nil {
		s.st.buckets[name] = &s3Bucket{name: name, created: time.Now().UTC(), objects: map[string]*s3Object{}, uploads: map[string]*s3Upload{}}
	}
}

// PutObjectFile stores a copy of a local file as an object (tests' seeding); the bucket is
// created when missing.
func (s *Server) PutObjectFile(bucket, key, src string) error {
	s.CreateBucket(bucket)
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	f, err := os.CreateTemp(s.s3dir("objects"), "obj-*")
	if err != nil {
		return err
	}
	h := md5.New()
	n, err := io.Copy(io.MultiWriter(f, h), in)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.st.buckets[bucket]
	if old := b.objects[key]; old != nil {
		os.Remove(old.path)
	}
	b.objects[key] = &s3Object{path: f.Name(), size: n, etag: `"` + hex.EncodeToString(h.Sum(nil)) + `"`, modified: time.Now().UTC(), contentType: "binary/octet-stream"}
	return nil
}

// ObjectPath returns the local file holding an object's bytes.
func (s *Server) ObjectPath(bucket, key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.s3object(bucket, key)
	if o == nil {
		return "", false
	}
	return o.path, true
}

// s3Op names the S3 operation of a request (path-style addressing).
func s3Op(r *http.Request, bucket, key string) string {
	q := r.URL.Query()
	_, uploads := q["uploads"]
	uploadID := q.Get("uploadId")
	switch {
	case bucket == "":
		if r.Method == http.MethodGet {
			return "ListBuckets"
		}
	case key == "":
		switch r.Method {
		case http.MethodPut:
			return "CreateBucket"
		case http.MethodHead:
			return "HeadBucket"
		case http.MethodDelete:
			return "DeleteBucket"
		case http.MethodGet:
			if _, ok := q["location"]; ok {
				return "GetBucketLocation"
			}
			if q.Get("list-type") == "2" {
				return "ListObjectsV2"
			}
			return "ListObjects"
		}
	default:
		switch r.Method {
		case http.MethodPut:
			if uploadID != "" {
				return "UploadPart"
			}
			return "PutObject"
		case http.MethodGet:
			if uploadID != "" {
				return "ListParts"
			}
			return "GetObject"
		case http.MethodHead:
			return "HeadObject"
		case http.MethodDelete:
			if uploadID != "" {
				return "AbortMultipartUpload"
			}
			return "DeleteObject"
		case http.MethodPost:
			if uploads {
				return "CreateMultipartUpload"
			}
			if uploadID != "" {
				return "CompleteMultipartUpload"
			}
		}
	}
	return ""
}

func (s *Server) serveS3(rc *reqCtx) {
	p := strings.TrimPrefix(rc.path, "/")
	bucket, key, _ := strings.Cut(p, "/")
	rc.action = s3Op(rc.r, bucket, key)
	if s.opts.S3SigV2 {
		if ae := s.verifySigV2(rc.r, rc.prefix); ae != nil {
			rc.authFail(ae)
			return
		}
	} else {
		mode := rc.r.Header.Get("X-Amz-Content-Sha256")
		if mode == "" && rc.r.Header.Get("Authorization") != "" {
			rc.fail(errf(400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"))
			return
		}
		sig, ae := s.verifySigV4(rc.r, mode, true)
		if ae != nil {
			rc.authFail(ae)
			return
		}
		rc.sig = sig
	}
	if rc.action == "" {
		rc.fail(errf(405, "MethodNotAllowed", "The specified method is not allowed against this resource."))
		return
	}
	if rc.applyFault() {
		return
	}
	var e *apiError
	switch rc.action {
	case "ListBuckets":
		e = rc.s3ListBuckets()
	case "CreateBucket":
		e = rc.s3CreateBucket(bucket)
	case "HeadBucket":
		e = rc.s3HeadBucket(bucket)
	case "DeleteBucket":
		e = rc.s3DeleteBucket(bucket)
	case "GetBucketLocation":
		e = rc.s3GetBucketLocation(bucket)
	case "ListObjectsV2", "ListObjects":
		e = rc.s3ListObjects(bucket)
	case "PutObject":
		e = rc.s3PutObject(bucket, key)
	case "GetObject", "HeadObject":
		e = rc.s3GetObject(bucket, key)
	case "DeleteObject":
		e = rc.s3DeleteObject(bucket, key)
	case "CreateMultipartUpload":
		e = rc.s3CreateMultipart(bucket, key)
	case "UploadPart":
		e = rc.s3UploadPart(bucket, key)
	case "CompleteMultipartUpload":
		e = rc.s3CompleteMultipart(bucket, key)
	case "AbortMultipartUpload":
		e = rc.s3AbortMultipart(bucket, key)
	default:
		e = errf(501, "NotImplemented", "%s is not implemented by the emulator", rc.action)
	}
	if e != nil {
		if e.Resource == "" {
			e.Resource = rc.r.URL.Path
		}
		rc.fail(e)
	}
}

func noSuchBucket(b string) *apiError {
	return errf(404, "NoSuchBucket", "The specified bucket does not exist: %s", b)
}

func (rc *reqCtx) bucket(name string) (*s3Bucket, *apiError) {
	b := rc.s.st.buckets[name]
	if b == nil {
		return nil, noSuchBucket(name)
	}
	return b, nil
}

func (rc *reqCtx) ok(status int) {
	rc.status = status
	rc.w.Header().Set("x-amz-request-id", rc.requestID)
	rc.w.WriteHeader(status)
}

func (rc *reqCtx) s3ListBuckets() *apiError {
	s := rc.s
	s.mu.Lock()
	type xb struct {
		Name         string
		CreationDate string
	}
	var bs []xb
	for _, n := range sortedKeys(s.st.buckets) {
		bs = append(bs, xb{n, s.st.buckets[n].created.Format(isoMillis)})
	}
	s.mu.Unlock()
	type owner struct{ ID, DisplayName string }
	rc.writeXML(200, struct {
		XMLName xml.Name `xml:"ListAllMyBucketsResult"`
		Xmlns   string   `xml:"xmlns,attr"`
		Owner   owner
		Buckets []xb `xml:"Buckets>Bucket"`
	}{Xmlns: s3Namespace, Owner: owner{s.AccountID, "ec2emu"}, Buckets: bs})
	return nil
}

func validBucketName(n string) bool {
	if len(n) < 3 || len(n) > 63 {
		return false
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func (rc *reqCtx) s3CreateBucket(name string) *apiError {
	if !validBucketName(name) {
		return errf(400, "InvalidBucketName", "The specified bucket is not valid.")
	}
	if _, ae := rc.readSmallBody(); ae != nil {
		return ae
	}
	s := rc.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.buckets[name] != nil {
		return errf(409, "BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it.")
	}
	s.st.buckets[name] = &s3Bucket{name: name, created: time.Now().UTC(), objects: map[string]*s3Object{}, uploads: map[string]*s3Upload{}}
	rc.w.Header().Set("Location", "/"+name)
	rc.ok(200)
	return nil
}

func (rc *reqCtx) s3HeadBucket(name string) *apiError {
	s := rc.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ae := rc.bucket(name); ae != nil {
		return ae
	}
	rc.w.Header().Set("x-amz-bucket-region", s.Region)
	rc.ok(200)
	return nil
}

func (rc *reqCtx) s3DeleteBucket(name string) *apiError {
	s := rc.s
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ae := rc.bucket(name)
	if ae != nil {
		return ae
	}
	if len(b.objects) > 0 {
		return errf(409, "BucketNotEmpty", "The bucket you tried to delete is not empty")
	}
	delete(s.st.buckets, name)
	rc.ok(204)
	return nil
}

func (rc *reqCtx) s3GetBucketLocation(name string) *apiError {
	s := rc.s
	s.mu.Lock()
	_, ae := rc.bucket(name)
	s.mu.Unlock()
	if ae != nil {
		return ae
	}
	loc := s.Region
	if loc == "us-east-1" {
		loc = ""
	}
	rc.writeXML(200, struct {
		XMLName xml.Name `xml:"LocationConstraint"`
		Xmlns   string   `xml:"xmlns,attr"`
		Value   string   `xml:",chardata"`
	}{Xmlns: s3Namespace, Value: loc})
	return nil
}

func (rc *reqCtx) s3ListObjects(name string) *apiError {
	s := rc.s
	q := rc.r.URL.Query()
	prefix, delim := q.Get("prefix"), q.Get("delimiter")
	v2 := rc.action == "ListObjectsV2"
	maxKeys := 1000
	if mk := q.Get("max-keys"); mk != "" {
		n, err := strconv.Atoi(mk)
		if err != nil || n < 0 {
			return errf(400, "InvalidArgument", "max-keys must be a non-negative integer")
		}
		maxKeys = min(n, 1000)
	}
	after := q.Get("start-after")
	if !v2 {
		after = q.Get("marker")
	}
	if tok := q.Get("continuation-token"); v2 && tok != "" {
		b, err := hex.DecodeString(tok)
		if err != nil {
			return errf(400, "InvalidArgument", "The continuation token provided is incorrect")
		}
		after = string(b)
	}
	type content struct {
		Key          string
		LastModified string
		ETag         string
		Size         int64
		StorageClass string
	}
	type cp struct{ Prefix string }
	type result struct {
		XMLName               xml.Name `xml:"ListBucketResult"`
		Xmlns                 string   `xml:"xmlns,attr"`
		Name                  string
		Prefix                string
		Marker                *string `xml:",omitempty"`
		StartAfter            string  `xml:",omitempty"`
		ContinuationToken     string  `xml:",omitempty"`
		NextContinuationToken string  `xml:",omitempty"`
		NextMarker            string  `xml:",omitempty"`
		KeyCount              *int    `xml:",omitempty"`
		MaxKeys               int
		Delimiter             string `xml:",omitempty"`
		IsTruncated           bool
		Contents              []content
		CommonPrefixes        []cp
	}
	s.mu.Lock()
	b, ae := rc.bucket(name)
	if ae != nil {
		s.mu.Unlock()
		return ae
	}
	keys := sortedKeys(b.objects)
	res := result{Xmlns: s3Namespace, Name: name, Prefix: prefix, MaxKeys: maxKeys, Delimiter: delim,
		StartAfter: q.Get("start-after"), ContinuationToken: q.Get("continuation-token")}
	seenCP := map[string]bool{}
	count := 0
	last := ""
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) || k <= after {
			continue
		}
		if delim != "" {
			if i := strings.Index(k[len(prefix):], delim); i >= 0 {
				c := k[:len(prefix)+i+len(delim)]
				if seenCP[c] || c <= after {
					continue
				}
				if count == maxKeys {
					res.IsTruncated = true
					break
				}
				seenCP[c] = true
				res.CommonPrefixes = append(res.CommonPrefixes, cp{c})
				count++
				last = c
				continue
			}
		}
		if count == maxKeys {
			res.IsTruncated = true
			break
		}
		o := b.objects[k]
		res.Contents = append(res.Contents, content{Key: k, LastModified: o.modified.Format(isoMillis), ETag: o.etag, Size: o.size, StorageClass: "STANDARD"})
		count++
		last = k
	}
	s.mu.Unlock()
	if v2 {
		res.KeyCount = &count
		if res.IsTruncated {
			res.NextContinuationToken = hex.EncodeToString([]byte(last))
		}
	} else {
		m := q.Get("marker")
		res.Marker = &m
		if res.IsTruncated {
			res.NextMarker = last
		}
	}
	rc.writeXML(200, res)
	return nil
}

func userMeta(h http.Header) map[string]string {
	m := map[string]string{}
	for k, v := range h {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-amz-meta-") && len(v) > 0 {
			m[lk] = v[0]
		}
	}
	return m
}

// receive stores the request body in a new file under sub.
func (rc *reqCtx) receive(sub string) (string, *s3Payload, *apiError) {
	f, err := os.CreateTemp(rc.s.s3dir(sub), "data-*")
	if err != nil {
		return "", nil, errf(500, "InternalError", "%v", err)
	}
	p, ae := rc.readS3Body(f)
	if cerr := f.Close(); ae == nil && cerr != nil {
		ae = errf(500, "InternalError", "%v", cerr)
	}
	if ae != nil {
		os.Remove(f.Name())
		return "", nil, ae
	}
	return f.Name(), p, nil
}

func setChecksumHeaders(h http.Header, sums map[string]string) {
	for a, v := range sums {
		h.Set("x-amz-checksum-"+a, v)
	}
}

func (rc *reqCtx) s3PutObject(bucket, key string) *apiError {
	s := rc.s
	s.mu.Lock()
	_, ae := rc.bucket(bucket)
	s.mu.Unlock()
	if ae != nil {
		return ae
	}
	if rc.r.Header.Get("X-Amz-Copy-Source") != "" {
		return errf(501, "NotImplemented", "CopyObject is not implemented by the emulator")
	}
	path, p, ae := rc.receive("objects")
	if ae != nil {
		return ae
	}
	o := &s3Object{path: path, size: p.size, etag: `"` + hex.EncodeToString(p.md5) + `"`, modified: time.Now().UTC(),
		contentType: rc.r.Header.Get("Content-Type"), meta: userMeta(rc.r.Header), checksums: p.checksums}
	if o.contentType == "" {
		o.contentType = "binary/octet-stream"
	}
	s.mu.Lock()
	b, ae := rc.bucket(bucket)
	if ae != nil {
		s.mu.Unlock()
		os.Remove(path)
		return ae
	}
	if old := b.objects[key]; old != nil {
		os.Remove(old.path)
	}
	b.objects[key] = o
	s.mu.Unlock()
	rc.w.Header().Set("ETag", o.etag)
	setChecksumHeaders(rc.w.Header(), p.checksums)
	rc.ok(200)
	return nil
}

// parseRange parses a single "bytes=" range; ok=false means serve the whole object.
func parseRange(h string, size int64) (start, end int64, ok bool, ae *apiError) {
	if h == "" {
		return 0, size - 1, false, nil
	}
	spec, found := strings.CutPrefix(h, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, size - 1, false, nil
	}
	a, b, _ := strings.Cut(spec, "-")
	bad := errf(416, "InvalidRange", "The requested range is not satisfiable")
	switch {
	case a == "":
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return 0, 0, false, bad
		}
		if n > size {
			n = size
		}
		return size - n, size - 1, true, nil
	default:
		s, err := strconv.ParseInt(a, 10, 64)
		if err != nil || s >= size {
			return 0, 0, false, bad
		}
		e := size - 1
		if b != "" {
			e, err = strconv.ParseInt(b, 10, 64)
			if err != nil || e < s {
				return 0, 0, false, bad
			}
			if e >= size {
				e = size - 1
			}
		}
		return s, e, true, nil
	}
}

func (rc *reqCtx) s3GetObject(bucket, key string) *apiError {
	s := rc.s
	s.mu.Lock()
	b, ae := rc.bucket(bucket)
	if ae != nil {
		s.mu.Unlock()
		return ae
	}
	o := b.objects[key]
	s.mu.Unlock()
	if o == nil {
		return errf(404, "NoSuchKey", "The specified key does not exist.")
	}
	start, end, ranged, ae := parseRange(rc.r.Header.Get("Range"), o.size)
	if ae != nil {
		rc.w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", o.size))
		return ae
	}
	if o.size == 0 {
		start, end, ranged = 0, -1, false
	}
	h := rc.w.Header()
	h.Set("ETag", o.etag)
	h.Set("Last-Modified", o.modified.Format(http.TimeFormat))
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Type", o.contentType)
	h.Set("x-amz-storage-class", "STANDARD")
	for k, v := range o.meta {
		h.Set(k, v)
	}
	if o.parts > 0 {
		h.Set("x-amz-mp-parts-count", strconv.Itoa(o.parts))
	}
	if !ranged && strings.EqualFold(rc.r.Header.Get("X-Amz-Checksum-Mode"), "ENABLED") {
		setChecksumHeaders(h, o.checksums)
		if len(o.checksums) > 0 {
			h.Set("x-amz-checksum-type", "FULL_OBJECT")
		}
	}
	n := end - start + 1
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	status := 200
	if ranged {
		status = 206
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, o.size))
	}
	if rc.r.Method == http.MethodHead {
		rc.ok(status)
		return nil
	}
	f, err := os.Open(o.path)
	if err != nil {
		return errf(500, "InternalError", "%v", err)
	}
	defer f.Close()
	rc.ok(status)
	sec := io.NewSectionReader(f, start, n)
	if rc.dropMidBody {
		half := make([]byte, n/2)
		io.ReadFull(sec, half)
		rc.cut(half)
	}
	if rc.corrupt && n > 0 {
		data, _ := io.ReadAll(sec)
		data[len(data)/2] ^= 0xff
		rc.w.Write(data)
		return nil
	}
	io.Copy(rc.w, sec)
	return nil
}

func (rc *reqCtx) s3DeleteObject(bucket, key string) *apiError {
	s := rc.s
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ae := rc.bucket(bucket)
	if ae != nil {
		return ae
	}
	if o := b.objects[key]; o != nil {
		os.Remove(o.path)
		delete(b.objects, key)
	}
	rc.ok(204)
	return nil
}

func (rc *reqCtx) s3CreateMultipart(bucket, key string) *apiError {
	s := rc.s
	s.mu.Lock()
	b, ae := rc.bucket(bucket)
	if ae != nil {
		s.mu.Unlock()
		return ae
	}
	u := &s3Upload{id: strings.ReplaceAll(newRequestID(), "-", ""), key: key, contentType: rc.r.Header.Get("Content-Type"),
		meta: userMeta(rc.r.Header), parts: map[int]*s3Part{}, created: time.Now().UTC()}
	if u.contentType == "" {
		u.contentType = "binary/octet-stream"
	}
	b.uploads[u.id] = u
	s.mu.Unlock()
	if a := rc.r.Header.Get("X-Amz-Checksum-Algorithm"); a != "" {
		rc.w.Header().Set("x-amz-checksum-algorithm", a)
	}
	rc.writeXML(200, struct {
		XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
		Xmlns    string   `xml:"xmlns,attr"`
		Bucket   string
		Key      string
		UploadID string `xml:"UploadId"`
	}{Xmlns: s3Namespace, Bucket: bucket, Key: key, UploadID: u.id})
	return nil
}

func (rc *reqCtx) upload(bucket, key string) (*s3Bucket, *s3Upload, *apiError) {
	b, ae := rc.bucket(bucket)
	if ae != nil {
		return nil, nil, ae
	}
	u := b.uploads[rc.r.URL.Query().Get("uploadId")]
	if u == nil || u.key != key {
		return nil, nil, errf(404, "NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")
	}
	return b, u, nil
}

func (rc *reqCtx) s3UploadPart(bucket, key string) *apiError {
	s := rc.s
	n, err := strconv.Atoi(rc.r.URL.Query().Get("partNumber"))
	if err != nil || n < 1 || n > 10000 {
		return errf(400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive")
	}
	s.mu.Lock()
	_, _, ae := rc.upload(bucket, key)
	s.mu.Unlock()
	if ae != nil {
		return ae
	}
	path, p, ae := rc.receive("parts")
	if ae != nil {
		return ae
	}
	part := &s3Part{path: path, size: p.size, md5: p.md5, etag: `"` + hex.EncodeToString(p.md5) + `"`, checksums: p.checksums}
	s.mu.Lock()
	_, u, ae := rc.upload(bucket, key)
	if ae != nil {
		s.mu.Unlock()
		os.Remove(path)
		return ae
	}
	if old := u.parts[n]; old != nil {
		os.Remove(old.path)
	}
	u.parts[n] = part
	s.mu.Unlock()
	rc.w.Header().Set("ETag", part.etag)
	setChecksumHeaders(rc.w.Header(), p.checksums)
	rc.ok(200)
	return nil
}

func (rc *reqCtx) s3CompleteMultipart(bucket, key string) *apiError {
	s := rc.s
	body, ae := rc.readSmallBody()
	if ae != nil {
		return ae
	}
	var req struct {
		Parts []struct {
			PartNumber    int
			ETag          string
			ChecksumCRC32 string
			ChecksumCRC32C,
			ChecksumSHA1,
			ChecksumSHA256 string
		} `xml:"Part"`
	}
	if err := xml.Unmarshal(body, &req); err != nil {
		return errf(400, "MalformedXML", "The XML you provided was not well-formed: %v", err)
	}
	if len(req.Parts) == 0 {
		return errf(400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema")
	}
	s.mu.Lock()
	b, u, ae := rc.upload(bucket, key)
	if ae != nil {
		s.mu.Unlock()
		return ae
	}
	var parts []*s3Part
	prev := 0
	for i, rp := range req.Parts {
		if rp.PartNumber <= prev {
			s.mu.Unlock()
			return errf(400, "InvalidPartOrder", "The list of parts was not in ascending order.")
		}
		prev = rp.PartNumber
		pt := u.parts[rp.PartNumber]
		if pt == nil || strings.Trim(rp.ETag, `"`) != strings.Trim(pt.etag, `"`) {
			s.mu.Unlock()
			return errf(400, "InvalidPart", "One or more of the specified parts could not be found or its entity tag did not match.")
		}
		for alg, got := range map[string]string{"crc32": rp.ChecksumCRC32, "crc32c": rp.ChecksumCRC32C, "sha1": rp.ChecksumSHA1, "sha256": rp.ChecksumSHA256} {
			if want, ok := pt.checksums[alg]; got != "" && ok && got != want {
				s.mu.Unlock()
				return errf(400, "InvalidPart", "The %s checksum of part %d does not match.", strings.ToUpper(alg), rp.PartNumber)
			}
		}
		if i < len(req.Parts)-1 && pt.size < 5<<20 {
			s.mu.Unlock()
			return errf(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.")
		}
		parts = append(parts, pt)
	}
	delete(b.uploads, u.id) // no concurrent completion of the same upload
	s.mu.Unlock()

	f, err := os.CreateTemp(s.s3dir("objects"), "obj-*")
	if err != nil {
		return errf(500, "InternalError", "%v", err)
	}
	var size int64
	var md5s bytes.Buffer
	for _, pt := range parts {
		in, err := os.Open(pt.path)
		if err != nil {
			f.Close()
			return errf(500, "InternalError", "%v", err)
		}
		n, err := io.Copy(f, in)
		in.Close()
		if err != nil {
			f.Close()
			return errf(500, "InternalError", "%v", err)
		}
		size += n
		md5s.Write(pt.md5)
	}
	if err := f.Close(); err != nil {
		return errf(500, "InternalError", "%v", err)
	}
	sum := md5.Sum(md5s.Bytes())
	o := &s3Object{path: f.Name(), size: size, etag: fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(sum[:]), len(parts)),
		modified: time.Now().UTC(), contentType: u.contentType, meta: u.meta, parts: len(parts)}
	s.mu.Lock()
	if old := b.objects[key]; old != nil {
		os.Remove(old.path)
	}
	b.objects[key] = o
	s.mu.Unlock()
	for _, pt := range u.parts {
		os.Remove(pt.path)
	}
	scheme := "http"
	if rc.r.TLS != nil {
		scheme = "https"
	}
	rc.writeXML(200, struct {
		XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
		Xmlns    string   `xml:"xmlns,attr"`
		Location string
		Bucket   string
		Key      string
		ETag     string
	}{Xmlns: s3Namespace, Location: scheme + "://" + rc.r.Host + "/" + bucket + "/" + key, Bucket: bucket, Key: key, ETag: o.etag})
	return nil
}

func (rc *reqCtx) s3AbortMultipart(bucket, key string) *apiError {
	s := rc.s
	s.mu.Lock()
	b, u, ae := rc.upload(bucket, key)
	if ae != nil {
		s.mu.Unlock()
		return ae
	}
	delete(b.uploads, u.id)
	s.mu.Unlock()
	for _, pt := range u.parts {
		os.Remove(pt.path)
	}
	rc.ok(204)
	return nil
}

// MultipartUploads counts unfinished multipart uploads in a bucket (to check for leftovers).
func (s *Server) MultipartUploads(bucket string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.st.buckets[bucket]; b != nil {
		return len(b.uploads)
	}
	return 0
}
