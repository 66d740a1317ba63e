package ec2

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // the S3 upload policy of BundleInstance is signed with HMAC-SHA1
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2/bundle"
)

// Eucalyptus has no EBS direct API. Images come out of it as instance-store bundles (made by
// BundleInstance of a running instance, or the bundle an EMI was registered from) and go in
// as bundles (upload + RegisterImage(ImageLocation)) or through ImportVolume (raw parts and
// an import manifest in S3, a conversion task, CreateSnapshot, RegisterImage with the
// snapshot).

// BundleKeys are the keys bundles are read and written with.
type BundleKeys struct {
	// The user's signing key and certificate (euca2ools' EC2_PRIVATE_KEY / EC2_CERT).
	UserKey  *rsa.PrivateKey
	UserCert *x509.Certificate
	// The cloud's certificate (EUCALYPTUS_CERT): new bundles are encrypted to it, and
	// bundles made by BundleInstance are signed with its key.
	CloudCert *x509.Certificate
	// The cloud's private key (cloud-pk.pem, admins only): opens any bundle of the cloud.
	CloudKey *rsa.PrivateKey
}

// Location splits an image location "bucket/dir/prefix.manifest.xml".
func Location(loc string) (bucket, key string, err error) {
	b, k, ok := strings.Cut(strings.TrimPrefix(loc, "/"), "/")
	if !ok || b == "" || !strings.HasSuffix(k, ".manifest.xml") {
		return "", "", fmt.Errorf("image location %q is not bucket/prefix.manifest.xml", loc)
	}
	return b, k, nil
}

// BundleInstance bundles a running instance-store instance into bucket/prefix with
// BundleInstance and waits for the task to complete. On failure or cancellation the task is
// cancelled (the cloud then removes its partial bundle). It returns the manifest location.
func BundleInstance(ctx context.Context, cl *Clients, instanceID, bucket, prefix string, timeout time.Duration, logf func(string, ...any)) (string, error) {
	creds, err := cl.Config.Credentials.Retrieve(ctx)
	if err != nil {
		return "", err
	}
	exp := time.Now().Add(timeout + time.Hour).UTC().Format("2006-01-02T15:04:05Z")
	policy := fmt.Sprintf(`{"expiration":%q,"conditions":[{"bucket":%q},{"acl":"ec2-bundle-read"},["starts-with","$key",%q]]}`, exp, bucket, prefix)
	b64 := base64.StdEncoding.EncodeToString([]byte(policy))
	mac := hmac.New(sha1.New, []byte(creds.SecretAccessKey))
	mac.Write([]byte(b64))
	out, err := cl.EC2.BundleInstance(ctx, &sdkec2.BundleInstanceInput{InstanceId: aws.String(instanceID), Storage: &types.Storage{S3: &types.S3Storage{
		Bucket: aws.String(bucket), Prefix: aws.String(prefix), AWSAccessKeyId: aws.String(creds.AccessKeyID),
		UploadPolicy: []byte(policy), UploadPolicySignature: aws.String(base64.StdEncoding.EncodeToString(mac.Sum(nil))),
	}}})
	if err != nil {
		return "", fmt.Errorf("BundleInstance %s: %w", instanceID, err)
	}
	id := aws.ToString(out.BundleTask.BundleId)
	cancelTask := func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		cl.EC2.CancelBundleTask(cctx, &sdkec2.CancelBundleTaskInput{BundleId: aws.String(id)}) //nolint:errcheck // best effort
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	delay, last := WaitPoll.Min, ""
	for {
		d, err := cl.EC2.DescribeBundleTasks(wctx, &sdkec2.DescribeBundleTasksInput{BundleIds: []string{id}})
		if err == nil && len(d.BundleTasks) == 1 {
			t := d.BundleTasks[0]
			if s := fmt.Sprintf("%s %s", t.State, aws.ToString(t.Progress)); s != last && logf != nil {
				logf("bundle task %s: %s", id, s)
				last = s
			}
			switch t.State {
			case types.BundleTaskStateComplete:
				return bucket + "/" + bundle.ManifestName(prefix), nil
			case types.BundleTaskStateFailed:
				msg := "failed"
				if t.BundleTaskError != nil {
					msg = aws.ToString(t.BundleTaskError.Code) + ": " + aws.ToString(t.BundleTaskError.Message)
				}
				return "", fmt.Errorf("bundle task %s of %s: %s", id, instanceID, msg)
			}
		} else if err != nil && !retryable(wctx, err) {
			cancelTask()
			return "", fmt.Errorf("DescribeBundleTasks %s: %w", id, err)
		}
		select {
		case <-time.After(delay):
		case <-wctx.Done():
			cancelTask()
			return "", fmt.Errorf("wait for bundle task %s: %w", id, wctx.Err())
		}
		delay = min(delay*2, WaitPoll.Max)
	}
}

// BundleSink is where DownloadBundle writes the image (an *os.File, a transfer.Sink).
type BundleSink interface {
	io.WriterAt
	Truncate(size int64) error
}

// DownloadBundle reads the bundle at location (bucket/prefix.manifest.xml) through S3 into
// dst, sparsely, sized to the image. The manifest's signature is checked against the user's
// and the cloud's certificates when any is given; the key is opened with the user's private
// key or else the cloud's. The image is written in order, zeros not written, its size set
// first: dst may be a transfer.Sink that hashes it or updates a base.
func DownloadBundle(ctx context.Context, cl *Clients, location string, k BundleKeys, dst BundleSink, progress func(done, total int64)) (*bundle.Manifest, error) {
	bucket, key, err := Location(location)
	if err != nil {
		return nil, err
	}
	raw, err := getSmallObject(ctx, cl.S3, bucket, key, 16<<20)
	if err != nil {
		return nil, fmt.Errorf("read the manifest s3://%s/%s: %w", bucket, key, err)
	}
	m, err := bundle.ParseManifest(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", location, err)
	}
	if k.UserCert != nil || k.CloudCert != nil {
		if err := m.Verify(k.UserCert, k.CloudCert); err != nil {
			return nil, fmt.Errorf("%s: %w", location, err)
		}
	}
	var aesKey, iv []byte
	err = errors.New("no private key to open the bundle")
	for _, pk := range []*rsa.PrivateKey{k.UserKey, k.CloudKey} {
		if pk != nil {
			if aesKey, iv, err = m.Keys(pk); err == nil {
				break
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", location, err)
	}
	if err := dst.Truncate(m.Size); err != nil {
		return nil, err
	}
	dir := path.Dir(key)
	if dir == "." {
		dir = ""
	} else {
		dir += "/"
	}
	err = bundle.Read(ctx, m, aesKey, iv, func(ctx context.Context, p bundle.Part) (io.ReadCloser, error) {
		var out *s3.GetObjectOutput
		err := withRetry(ctx, 5, nil, func() error {
			var err error
			out, err = cl.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(dir + p.Filename)})
			return err
		})
		if err != nil {
			return nil, err
		}
		return out.Body, nil
	}, dst, bundle.ReadOptions{Progress: progress})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", location, err)
	}
	return m, nil
}

func getSmallObject(ctx context.Context, c *s3.Client, bucket, key string, limit int64) ([]byte, error) {
	var data []byte
	err := withRetry(ctx, 5, nil, func() error {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			return err
		}
		defer out.Body.Close()
		data, err = io.ReadAll(io.LimitReader(out.Body, limit+1))
		if err == nil && int64(len(data)) > limit {
			return fmt.Errorf("larger than %d bytes", limit)
		}
		return err
	})
	return data, err
}

// EnsureBucket creates the bucket unless it exists.
func EnsureBucket(ctx context.Context, c *s3.Client, bucket string) error {
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err == nil {
		return nil
	}
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		var owned *s3types.BucketAlreadyOwnedByYou
		if errors.As(err, &owned) {
			return nil
		}
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	return nil
}

// DeleteObjects deletes objects one by one (DeleteObjects is not in every S3-compatible
// store); missing ones are not an error.
func DeleteObjects(ctx context.Context, c *s3.Client, bucket string, keys []string) error {
	var errs []error
	for _, k := range keys {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)}); err != nil {
			errs = append(errs, fmt.Errorf("delete s3://%s/%s: %w", bucket, k, err))
		}
	}
	return errors.Join(errs...)
}

// UploadedBundle is a bundle stored in S3.
type UploadedBundle struct {
	Bucket   string
	Keys     []string // parts and manifest
	Location string   // bucket/prefix.manifest.xml
	Manifest *bundle.Manifest
}

// UploadBundle bundles size bytes of src (o's keys and certificates) into bucket/<o.Prefix>
// part by part; a failure deletes what was uploaded.
func UploadBundle(ctx context.Context, cl *Clients, src io.Reader, size int64, bucket string, o bundle.WriteOptions) (*UploadedBundle, error) {
	if err := EnsureBucket(ctx, cl.S3, bucket); err != nil {
		return nil, err
	}
	ub := &UploadedBundle{Bucket: bucket}
	put := func(key string, data []byte) error {
		return withRetry(ctx, 6, nil, func() error {
			_, err := cl.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data),
				ContentLength: aws.Int64(int64(len(data)))})
			return err
		})
	}
	m, text, err := bundle.Write(ctx, src, size, o, func(p bundle.Part, data []byte) error {
		ub.Keys = append(ub.Keys, p.Filename)
		return put(p.Filename, data)
	})
	if err == nil {
		mk := bundle.ManifestName(o.Prefix)
		ub.Keys = append(ub.Keys, mk)
		err = put(mk, text)
		ub.Location = bucket + "/" + mk
	}
	if err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		defer cancel()
		return nil, errors.Join(err, DeleteObjects(dctx, cl.S3, bucket, ub.Keys))
	}
	ub.Manifest = m
	return ub, nil
}

// EucaBoot is how a new EMI boots: `hvm` (the default), or `paravirtual` with the kernel
// (eki-/aki-) and ramdisk (eri-/ari-) images the cloud boots it with, as euca-register
// --kernel --ramdisk --virtualization-type paravirtual registers it.
type EucaBoot struct {
	VirtualizationType string
	KernelID           string
	RamdiskID          string
}

// apply sets the boot parameters of a RegisterImage request.
func (b EucaBoot) apply(in *sdkec2.RegisterImageInput) {
	vt := b.VirtualizationType
	if vt == "" {
		vt = "hvm"
	}
	in.VirtualizationType = aws.String(vt)
	if b.KernelID != "" {
		in.KernelId = aws.String(b.KernelID)
	}
	if b.RamdiskID != "" {
		in.RamdiskId = aws.String(b.RamdiskID)
	}
}

// RegisterBundle registers an instance-store image from an uploaded bundle (EC2 API
// 2016-09-15 parameters only), booting as boot says.
func RegisterBundle(ctx context.Context, c *sdkec2.Client, name, description, location, arch, rootDevice string, boot EucaBoot) (string, error) {
	in := &sdkec2.RegisterImageInput{Name: aws.String(name), ImageLocation: aws.String(location),
		Architecture: types.ArchitectureValues(arch)}
	boot.apply(in)
	if rootDevice != "" {
		in.RootDeviceName = aws.String(rootDevice)
	}
	if description != "" {
		in.Description = aws.String(description)
	}
	out, err := c.RegisterImage(ctx, in)
	if err != nil {
		return "", fmt.Errorf("RegisterImage %q from %s: %w", name, location, err)
	}
	return aws.ToString(out.ImageId), nil
}

// ImportVolumeOptions describe an ImportVolume upload.
type ImportVolumeOptions struct {
	Bucket, Prefix   string
	AvailabilityZone string
	Description      string
	// PartSize of the raw parts (default 100 MiB).
	PartSize int64
	Timeout  time.Duration
	Logf     func(string, ...any)
}

// ImportVolume uploads size bytes of src as raw parts plus an import manifest (version
// 2010-11-15, presigned GET URLs, as euca-import-volume makes it), runs ImportVolume, waits
// for the conversion task and returns the new volume. The uploaded objects are deleted in
// every case; a failed task's volume is deleted.
func ImportVolume(ctx context.Context, cl *Clients, src io.ReaderAt, size int64, o ImportVolumeOptions) (string, error) {
	if o.PartSize <= 0 {
		o.PartSize = 100 << 20
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Minute
	}
	if err := EnsureBucket(ctx, cl.S3, o.Bucket); err != nil {
		return "", err
	}
	var keys []string
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		defer cancel()
		if err := DeleteObjects(dctx, cl.S3, o.Bucket, keys); err != nil && o.Logf != nil {
			o.Logf("%v", err)
		}
	}()
	ps := s3.NewPresignClient(cl.S3, func(po *s3.PresignOptions) { po.Expires = o.Timeout + time.Hour })
	presign := func(key string) (string, error) {
		r, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(o.Bucket), Key: aws.String(key)})
		if err != nil {
			return "", err
		}
		return r.URL, nil
	}
	var parts strings.Builder
	n := 0
	for off := int64(0); off < size; off += o.PartSize {
		l := min(o.PartSize, size-off)
		key := fmt.Sprintf("%s.part%d", o.Prefix, n)
		keys = append(keys, key)
		err := withRetry(ctx, 6, nil, func() error {
			_, err := cl.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(o.Bucket), Key: aws.String(key),
				Body: io.NewSectionReader(src, off, l), ContentLength: aws.Int64(l)})
			return err
		})
		if err != nil {
			return "", fmt.Errorf("upload s3://%s/%s: %w", o.Bucket, key, err)
		}
		u, err := presign(key)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&parts, `<part index="%d"><byte-range start="%d" end="%d"/><key>%s</key><head-url>%s</head-url><get-url>%s</get-url><delete-url>%s</delete-url></part>`,
			n, off, off+l-1, html.EscapeString(key), html.EscapeString(u), html.EscapeString(u), html.EscapeString(u))
		n++
	}
	gib := (size + GiB - 1) / GiB
	manifest := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?><manifest><version>2010-11-15</version><file-format>RAW</file-format>`+
		`<importer><name>chromogenic</name><version>1</version><release>2010-11-15</release></importer>`+
		`<self-destruct-url></self-destruct-url><import><size>%d</size><volume-size>%d</volume-size><parts count="%d">%s</parts></import></manifest>`,
		size, gib, n, parts.String())
	mkey := o.Prefix + ".manifest.xml"
	keys = append(keys, mkey)
	if _, err := cl.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(o.Bucket), Key: aws.String(mkey), Body: strings.NewReader(manifest)}); err != nil {
		return "", fmt.Errorf("upload the import manifest: %w", err)
	}
	murl, err := presign(mkey)
	if err != nil {
		return "", err
	}
	in := &sdkec2.ImportVolumeInput{AvailabilityZone: aws.String(o.AvailabilityZone),
		Image:  &types.DiskImageDetail{Format: types.DiskImageFormatRaw, Bytes: aws.Int64(size), ImportManifestUrl: aws.String(murl)},
		Volume: &types.VolumeDetail{Size: aws.Int64(gib)}}
	if o.Description != "" {
		in.Description = aws.String(o.Description)
	}
	out, err := cl.EC2.ImportVolume(ctx, in)
	if err != nil {
		return "", fmt.Errorf("ImportVolume: %w", err)
	}
	task := aws.ToString(out.ConversionTask.ConversionTaskId)
	wctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	delay, last := WaitPoll.Min, ""
	for {
		d, err := cl.EC2.DescribeConversionTasks(wctx, &sdkec2.DescribeConversionTasksInput{ConversionTaskIds: []string{task}})
		if err == nil && len(d.ConversionTasks) == 1 {
			t := d.ConversionTasks[0]
			if s := string(t.State) + " " + aws.ToString(t.StatusMessage); s != last && o.Logf != nil {
				o.Logf("conversion task %s: %s", task, s)
				last = s
			}
			switch t.State {
			case types.ConversionTaskStateCompleted:
				if t.ImportVolume == nil || t.ImportVolume.Volume == nil || aws.ToString(t.ImportVolume.Volume.Id) == "" {
					return "", fmt.Errorf("conversion task %s completed without a volume", task)
				}
				return aws.ToString(t.ImportVolume.Volume.Id), nil
			case types.ConversionTaskStateCancelled, types.ConversionTaskStateCancelling:
				return "", fmt.Errorf("conversion task %s %s: %s", task, t.State, aws.ToString(t.StatusMessage))
			}
		} else if err != nil && !retryable(wctx, err) {
			return "", fmt.Errorf("DescribeConversionTasks %s: %w", task, err)
		}
		select {
		case <-time.After(delay):
		case <-wctx.Done():
			cl.EC2.CancelConversionTask(context.WithoutCancel(ctx), &sdkec2.CancelConversionTaskInput{ConversionTaskId: aws.String(task)}) //nolint:errcheck // best effort
			return "", fmt.Errorf("wait for conversion task %s: %w", task, wctx.Err())
		}
		delay = min(delay*2, WaitPoll.Max)
	}
}

// SnapshotVolume snapshots a volume and waits until the snapshot is completed; a failed
// snapshot is deleted.
func SnapshotVolume(ctx context.Context, c *sdkec2.Client, volumeID, description string, timeout time.Duration) (string, error) {
	out, err := c.CreateSnapshot(ctx, &sdkec2.CreateSnapshotInput{VolumeId: aws.String(volumeID), Description: aws.String(description)})
	if err != nil {
		return "", fmt.Errorf("CreateSnapshot of %s: %w", volumeID, err)
	}
	id := aws.ToString(out.SnapshotId)
	if err := waitSnapshot(ctx, c, id, timeout); err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		return "", errors.Join(err, DeleteSnapshot(dctx, c, id))
	}
	return id, nil
}

// DeleteVolume deletes a volume; one already gone is not an error.
func DeleteVolume(ctx context.Context, c *sdkec2.Client, id string) error {
	if _, err := c.DeleteVolume(ctx, &sdkec2.DeleteVolumeInput{VolumeId: aws.String(id)}); err != nil && APICode(err) != "InvalidVolume.NotFound" {
		return fmt.Errorf("DeleteVolume %s: %w", id, err)
	}
	return nil
}

// ListKeys lists the keys under a prefix.
func ListKeys(ctx context.Context, c *s3.Client, bucket, prefix string) ([]string, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s*: %w", bucket, prefix, err)
		}
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys, nil
}

// EmpyreanEndpoint is the Eucalyptus bootstrap service next to a compute endpoint
// (…/services/compute or 3.x …/services/Eucalyptus → …/services/Empyrean); for an endpoint
// of another shape (a proxy, DNS service names), /services/Empyrean on the same host.
func EmpyreanEndpoint(ec2Endpoint string) string {
	e := strings.TrimRight(ec2Endpoint, "/")
	if IsEucalyptusEndpoint(e) {
		e = strings.TrimSuffix(strings.TrimSuffix(e, "/services/compute"), "/services/Eucalyptus")
	} else if u, err := url.Parse(e); err == nil && u.Host != "" {
		e = (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
	}
	return e + "/services/Empyrean"
}

// FetchCloudCertificate asks the Eucalyptus bootstrap service for the certificate bundles are
// encrypted to (DescribeServiceCertificates, the compute service's image-bundling
// certificate), as euca2ools does when EUCALYPTUS_CERT is not set.
func FetchCloudCertificate(ctx context.Context, cl *Clients, ec2Endpoint string) (*x509.Certificate, error) {
	endpoint := EmpyreanEndpoint(ec2Endpoint)
	body := "Action=DescribeServiceCertificates&Version=2010-01-01&Format=pem&FingerprintDigest=SHA-256"
	creds, err := cl.Config.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, err
	}
	var out struct {
		Certs []struct {
			Certificate string `xml:"certificate"`
			Format      string `xml:"certificateFormat"`
			Usage       string `xml:"certificateUsage"`
			ServiceType string `xml:"serviceType"`
		} `xml:"serviceCertificates>item"`
	}
	err = withRetry(ctx, 5, nil, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		sum := sha256.Sum256([]byte(body))
		if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "bootstrap", cl.Region, time.Now()); err != nil {
			return err
		}
		resp, err := cl.Config.HTTPClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: HTTP %d: %s", endpoint, resp.StatusCode, strings.TrimSpace(string(data)))
		}
		return xml.Unmarshal(data, &out)
	})
	if err != nil {
		return nil, fmt.Errorf("DescribeServiceCertificates: %w", err)
	}
	for _, c := range out.Certs {
		if c.ServiceType == "compute" && strings.EqualFold(c.Format, "pem") && (c.Usage == "" || c.Usage == "image-bundling") {
			return bundle.ParseCertificate([]byte(c.Certificate))
		}
	}
	return nil, fmt.Errorf("DescribeServiceCertificates at %s gave no compute image-bundling certificate", endpoint)
}

// String says how the image boots, for messages: "hvm", or "paravirtual, kernel eki-…,
// ramdisk eri-…".
func (b EucaBoot) String() string {
	s := b.VirtualizationType
	if s == "" {
		s = "hvm"
	}
	if b.KernelID != "" {
		s += ", kernel " + b.KernelID
	}
	if b.RamdiskID != "" {
		s += ", ramdisk " + b.RamdiskID
	}
	return s
}
