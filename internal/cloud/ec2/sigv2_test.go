package ec2

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2/bundle"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// The example of Amazon S3's REST authentication documentation ("Object GET"): its string to
// sign and signature, with the documentation's example secret key.
func TestSigV2AWSExample(t *testing.T) {
	h := http.Header{}
	h.Set("Date", "Tue, 27 Mar 2007 19:36:42 +0000")
	u, _ := url.Parse("https://s3.us-west-1.amazonaws.com/awsexamplebucket1/photos/puppy.jpg")
	sts := stringToSignV2("GET", h, u)
	if want := "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg"; sts != want {
		t.Fatalf("string to sign %q, want %q", sts, want)
	}
	if got := signV2("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", sts); got != "qgk2+6Sv9/oM7G3qLEjTH1a1l1g=" {
		t.Errorf("signature %s", got)
	}
}

// The parts of the string to sign the example does not show: x-amz-* headers (lower-cased,
// sorted, values trimmed, repeated ones joined), Content-MD5 and Content-Type, and only the
// sub-resources of the query (sorted), not the SDK's x-id or list parameters.
func TestSigV2StringToSign(t *testing.T) {
	h := http.Header{}
	h.Set("Date", "Wed, 25 Nov 2026 10:00:00 GMT")
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-MD5", "4gJE4saaMU4BqNR0kLY+lw==")
	h.Add("X-Amz-Meta-Reviewedby", "joe@example.com")
	h.Add("X-Amz-Meta-Reviewedby", " jane@example.com ")
	h.Set("X-Amz-Acl", "private")
	h.Set("User-Agent", "not signed")
	u, _ := url.Parse("http://127.0.0.1:8773/services/objectstorage/bkt/a%20b.part.0?x-id=UploadPart&uploadId=u-1&partNumber=3&prefix=p")
	want := "PUT\n4gJE4saaMU4BqNR0kLY+lw==\napplication/octet-stream\nWed, 25 Nov 2026 10:00:00 GMT\n" +
		"x-amz-acl:private\nx-amz-meta-reviewedby:joe@example.com,jane@example.com\n" +
		"/services/objectstorage/bkt/a%20b.part.0?partNumber=3&uploadId=u-1"
	if got := stringToSignV2("PUT", h, u); got != want {
		t.Errorf("string to sign\n%q\nwant\n%q", got, want)
	}
	u, _ = url.Parse("http://127.0.0.1:8773/services/objectstorage/bkt?uploads")
	h = http.Header{"Date": {"x"}}
	if got := stringToSignV2("POST", h, u); got != "POST\n\n\nx\n/services/objectstorage/bkt?uploads" {
		t.Errorf("sub-resource without a value: %q", got)
	}
}

// An S3 client with S3SigV2 works against object storage that accepts only signature version
// 2 (the emulator as Eucalyptus before 4.4): a bundle goes up in parts and comes back equal.
// A version 4 client is refused with the server's reason, and a wrong secret does not sign.
func TestSigV2AgainstVersion2OnlyStorage(t *testing.T) {
	ctx := t.Context()
	srv := ec2emu.Start(t, ec2emu.Options{Dialect: ec2emu.Eucalyptus, S3SigV2: true})
	isolate(t)
	access := Access{AccessKey: srv.AccessKeyID, SecretKey: srv.SecretAccessKey, Region: srv.Region,
		EC2Endpoint: srv.EC2Endpoint, S3Endpoint: srv.S3Endpoint, S3SigV2: true, Eucalyptus: true}
	cl, err := Connect(ctx, access)
	if err != nil {
		t.Fatal(err)
	}
	user, err := bundle.NewIdentity("user")
	if err != nil {
		t.Fatal(err)
	}
	cloudCert, err := bundle.ParseCertificate(srv.CloudCertPEM())
	if err != nil {
		t.Fatal(err)
	}
	path, want := testImage(t, 24<<20, map[int64]int{0: 5 << 20, 20 << 20: 1 << 20})
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ub, err := UploadBundle(ctx, cl, f, int64(len(want)), "sigv2", bundle.WriteOptions{Name: "img.img", Prefix: "v2", SignKey: user.Key,
		UserCert: user.Cert, CloudCert: cloudCert})
	if err != nil {
		t.Fatal(err)
	}
	dst, err := os.Create(filepath.Join(t.TempDir(), "back.raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := DownloadBundle(ctx, cl, ub.Location, BundleKeys{UserKey: user.Key, UserCert: user.Cert, CloudCert: cloudCert}, dst, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, dst.Name()), want) {
		t.Fatal("the bundle read back through signature version 2 differs")
	}
	if n := srv.CallCount("PutObject"); n < len(ub.Manifest.Parts)+1 {
		t.Errorf("%d PutObject calls for %d parts and the manifest", n, len(ub.Manifest.Parts))
	}

	access.S3SigV2 = false
	v4, err := Connect(ctx, access)
	if err != nil {
		t.Fatal(err)
	}
	_, err = v4.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("sigv2"), Key: aws.String(ub.Location[len("sigv2/"):])})
	if err == nil {
		t.Fatal("a version 4 signature was accepted")
	}
	_, err = v4.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("sigv2")})
	if err == nil || !strings.Contains(err.Error(), "signature version 4 is not supported") {
		t.Errorf("version 4 request: %v", err)
	}
	access.S3SigV2, access.SecretKey = true, "wrong"
	bad, err := Connect(ctx, access)
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("sigv2")})
	var ae interface{ ErrorCode() string }
	if !errors.As(err, &ae) || ae.ErrorCode() != "SignatureDoesNotMatch" {
		t.Errorf("wrong secret: %v", err)
	}
}
