package ec2emu_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

func s3RoundTrip(t *testing.T, srv *ec2emu.Server, c clients) {
	ctx := context.Background()
	if _, err := c.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("images")}); err != nil {
		t.Fatal(err)
	}
	var owned *s3types.BucketAlreadyOwnedByYou
	if _, err := c.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("images")}); !errorsAs(err, &owned) {
		t.Fatalf("second CreateBucket: %v", err)
	}
	if _, err := c.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("images")}); err != nil {
		t.Fatal(err)
	}
	body := []byte(strings.Repeat("0123456789abcdef", 4096))
	key := "dir/a key+with space.raw"
	po, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("images"), Key: aws.String(key), Body: bytes.NewReader(body),
		Metadata: map[string]string{"origin": "test"}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(po.ETag) == "" {
		t.Fatal("PutObject: no ETag")
	}
	ho, err := c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("images"), Key: aws.String(key)})
	if err != nil || aws.ToInt64(ho.ContentLength) != int64(len(body)) || aws.ToString(ho.ETag) != aws.ToString(po.ETag) || ho.Metadata["origin"] != "test" || ho.LastModified == nil {
		t.Fatalf("HeadObject: %v %+v", err, ho)
	}
	g, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("images"), Key: aws.String(key), Range: aws.String("bytes=100-1123")})
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(g.Body)
	g.Body.Close()
	if !bytes.Equal(part, body[100:1124]) || aws.ToString(g.ContentRange) != fmt.Sprintf("bytes 100-1123/%d", len(body)) || aws.ToInt64(g.ContentLength) != 1024 {
		t.Fatalf("ranged GetObject: %q %d", aws.ToString(g.ContentRange), len(part))
	}
	g, err = c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("images"), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	all, _ := io.ReadAll(g.Body)
	g.Body.Close()
	if !bytes.Equal(all, body) {
		t.Fatal("GetObject content")
	}
	var nsk *s3types.NoSuchKey
	if _, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("images"), Key: aws.String("missing")}); !errorsAs(err, &nsk) {
		t.Fatalf("missing key: %v", err)
	}
	var nf *s3types.NotFound
	if _, err := c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("images"), Key: aws.String("missing")}); !errorsAs(err, &nf) {
		t.Fatalf("HeadObject missing: %v", err)
	}

	// Multipart upload of a 23 MiB non-seekable stream with the (deprecated) manager.
	const size = 23<<20 + 12345
	src := make([]byte, size)
	rand.New(rand.NewSource(3)).Read(src)
	pr, pw := io.Pipe()
	go func() {
		for off := 0; off < size; off += 1 << 20 {
			pw.Write(src[off:min(off+1<<20, size)])
		}
		pw.Close()
	}()
	up := manager.NewUploader(c.s3, func(u *manager.Uploader) { u.PartSize = 5 << 20; u.Concurrency = 3 })
	res, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String("images"), Key: aws.String("big.raw"), Body: pr})
	if err != nil {
		t.Fatal(err)
	}
	if res.UploadID == "" || !strings.HasSuffix(aws.ToString(res.ETag), `-5"`) {
		t.Fatalf("upload result: %+v", res)
	}
	g, err = c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("images"), Key: aws.String("big.raw")})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, _ := io.Copy(h, g.Body)
	g.Body.Close()
	if n != size || !bytes.Equal(h.Sum(nil), sha(src)) {
		t.Fatalf("multipart object differs (%d bytes)", n)
	}
	// Parallel ranged download.
	dl := manager.NewDownloader(c.s3, func(d *manager.Downloader) { d.PartSize = 4 << 20; d.Concurrency = 4 })
	wab := manager.NewWriteAtBuffer(make([]byte, 0, size))
	if n, err := dl.Download(ctx, wab, &s3.GetObjectInput{Bucket: aws.String("images"), Key: aws.String("big.raw")}); err != nil || n != size || !bytes.Equal(wab.Bytes(), src) {
		t.Fatalf("ranged download: %v %d", err, n)
	}

	// Explicit multipart API, including abort.
	cm, err := c.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("images"), Key: aws.String("aborted")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.s3.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("images"), Key: aws.String("aborted"), UploadId: cm.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	if srv.MultipartUploads("images") != 1 {
		t.Fatal("upload not tracked")
	}
	if _, err := c.s3.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("images"), Key: aws.String("aborted"), UploadId: cm.UploadId}); err != nil {
		t.Fatal(err)
	}
	if srv.MultipartUploads("images") != 0 {
		t.Fatal("abort left the upload")
	}
	if _, err := c.s3.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("images"), Key: aws.String("aborted"), UploadId: cm.UploadId,
		PartNumber: aws.Int32(2), Body: bytes.NewReader(body)}); apiCode(err) != "NoSuchUpload" {
		t.Fatalf("part after abort: %v", err)
	}

	// ListObjectsV2 with pagination and delimiter.
	for i := 0; i < 5; i++ {
		if _, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("images"), Key: aws.String(fmt.Sprintf("list/%d", i)), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	pg := s3.NewListObjectsV2Paginator(c.s3, &s3.ListObjectsV2Input{Bucket: aws.String("images"), Prefix: aws.String("list/"), MaxKeys: aws.Int32(2)})
	pages := 0
	for pg.HasMorePages() {
		out, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
			if aws.ToInt64(o.Size) != 1 || o.LastModified == nil || aws.ToString(o.ETag) == "" {
				t.Fatalf("listed object: %+v", o)
			}
		}
	}
	if pages != 3 || strings.Join(keys, ",") != "list/0,list/1,list/2,list/3,list/4" {
		t.Fatalf("paged listing: %d pages %v", pages, keys)
	}
	lo, err := c.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("images"), Delimiter: aws.String("/")})
	if err != nil || len(lo.CommonPrefixes) != 2 || len(lo.Contents) != 1 || aws.ToInt32(lo.KeyCount) != 3 {
		t.Fatalf("delimiter listing: %v %+v", err, lo)
	}
	if _, err := c.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("images"), Key: aws.String(key)}); err != nil {
		t.Fatal(err)
	}
	if _, ok := srv.ObjectPath("images", key); ok {
		t.Fatal("DeleteObject left the object")
	}
}

func sha(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// TestS3 runs the S3 round trip with the SDK's default checksum settings over HTTP (payload
// signed with its SHA-256, CRC32 headers).
func TestS3(t *testing.T) {
	srv := ec2emu.Start(t)
	s3RoundTrip(t, srv, newClients(srv))
	if m := payloadModes(srv, "UploadPart"); !m["sha256"] {
		t.Fatalf("UploadPart payload modes over HTTP: %v", m)
	}
}

func payloadModes(srv *ec2emu.Server, action string) map[string]bool {
	m := map[string]bool{}
	for _, c := range srv.Calls() {
		if c.Action == action {
			m[c.Payload] = true
		}
	}
	return m
}

// TestS3TLS runs it over HTTPS, where the SDK streams uploads as aws-chunked with
// STREAMING-UNSIGNED-PAYLOAD-TRAILER and a trailing checksum.
func TestS3TLS(t *testing.T) {
	srv := ec2emu.Start(t, ec2emu.Options{TLS: true})
	s3RoundTrip(t, srv, newClients(srv))
	if m := payloadModes(srv, "UploadPart"); !m["STREAMING-UNSIGNED-PAYLOAD-TRAILER"] {
		t.Fatalf("UploadPart payload modes over HTTPS: %v", m)
	}
	if m := payloadModes(srv, "PutObject"); !m["UNSIGNED-PAYLOAD"] {
		t.Fatalf("PutObject payload modes over HTTPS: %v", m)
	}
}
