package ec2emu

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1" //nolint:gosec // the upload policy signature is HMAC-SHA1
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2/bundle"
)

// Instance-store images and BundleInstance (the Eucalyptus paths into and out of
// instance-store). The emulator holds a cloud key pair (cloud-pk.pem / cloud-cert.pem): a
// bundle is registered by fetching its manifest from the emulated S3, verifying its
// signature with a registered user certificate or the cloud certificate, opening the
// ec2_encrypted key with the cloud key and unbundling the parts, checked, into the image's
// disk. BundleInstance makes a real bundle of an instance-store instance's root disk,
// encrypted to the cloud certificate and to the owner's registered certificate (or only the
// cloud's when none is registered), signed with the cloud key, stored in bucket/prefix.

type bundleTask struct {
	id, instanceID, bucket, prefix, accessKey, policy, policySig string
	state, progress, errCode, errMsg                             string
	start, update                                                time.Time
	cancel                                                       context.CancelFunc
}

type xBundleTask struct {
	BundleID   string `xml:"bundleId"`
	InstanceID string `xml:"instanceId"`
	Progress   string `xml:"progress"`
	StartTime  string `xml:"startTime"`
	State      string `xml:"state"`
	Storage    struct {
		S3 struct {
			AWSAccessKeyID        string `xml:"AWSAccessKeyId,omitempty"`
			Bucket                string `xml:"bucket"`
			Prefix                string `xml:"prefix"`
			UploadPolicy          string `xml:"uploadPolicy,omitempty"`
			UploadPolicySignature string `xml:"uploadPolicySignature,omitempty"`
		} `xml:"S3"`
	} `xml:"storage"`
	UpdateTime string `xml:"updateTime"`
	Error      *struct {
		Code    string `xml:"code"`
		Message string `xml:"message"`
	} `xml:"error,omitempty"`
}

func (t *bundleTask) x() xBundleTask {
	var x xBundleTask
	x.BundleID, x.InstanceID, x.Progress, x.State = t.id, t.instanceID, t.progress, t.state
	x.StartTime, x.UpdateTime = t.start.Format(isoMillis), t.update.Format(isoMillis)
	x.Storage.S3.AWSAccessKeyID, x.Storage.S3.Bucket, x.Storage.S3.Prefix = t.accessKey, t.bucket, t.prefix
	x.Storage.S3.UploadPolicy, x.Storage.S3.UploadPolicySignature = t.policy, t.policySig
	if t.errCode != "" {
		x.Error = &struct {
			Code    string `xml:"code"`
			Message string `xml:"message"`
		}{t.errCode, t.errMsg}
	}
	return x
}

// cloudIdentity returns the cloud key pair, made on first use. The caller holds s.mu or is
// single-threaded.
func (s *Server) cloudIdentity() *bundle.Identity {
	s.cloudOnce.Do(func() {
		id, err := bundle.NewIdentity("eucalyptus-cloud-" + s.AccountID)
		if err != nil {
			panic(err)
		}
		s.cloud = id
	})
	return s.cloud
}

// CloudCertPEM is the cloud's certificate (cloud-cert.pem, what euca-describe-service-
// certificates or EUCALYPTUS_CERT give users): bundles are encrypted to it.
func (s *Server) CloudCertPEM() []byte { return s.cloudIdentity().CertPEM }

// CloudKeyPEM is the cloud's private key (cloud-pk.pem, admin-only on a real CLC).
func (s *Server) CloudKeyPEM() []byte { return s.cloudIdentity().KeyPEM }

// RegisterUserCertificate registers a user signing certificate for the account (what
// euare-usercreatecert / IAM UploadSigningCertificate do): manifests signed by its key are
// accepted by RegisterImage, and BundleInstance encrypts bundles to it too.
func (s *Server) RegisterUserCertificate(certPEM []byte) error {
	c, err := bundle.ParseCertificate(certPEM)
	if err != nil {
		return fmt.Errorf("ec2emu: user certificate: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.userCerts = append(s.userCerts, c)
	return nil
}

// ImageDiskPath returns the unbundled root disk of an available instance-store image.
func (s *Server) ImageDiskPath(id string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.tick()
	im := s.st.images[id]
	if im == nil || im.diskPath == "" || im.state != "available" {
		return "", false
	}
	return im.diskPath, true
}

// ObjectKeys lists a bucket's object keys (to check what a build left behind).
func (s *Server) ObjectKeys(bucket string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.st.buckets[bucket]
	if b == nil {
		return nil
	}
	return sortedKeys(b.objects)
}

// BundleTaskStates lists the states of every bundle task, by id.
func (s *Server) BundleTaskStates() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for id, t := range s.st.bundles {
		out[id] = t.state
	}
	return out
}

// BundledImage seeds an instance-store image as a user would make it with euca-bundle-image,
// euca-upload-bundle and euca-register: rootDisk is bundled (signed with user's key,
// encrypted to the cloud and to user), stored under bucket/<name>, and registered (the
// manifest is verified; the emulator does not unbundle it again, so ImageDiskPath has
// nothing for it). It returns the image id once the image is available.
func (s *Server) BundledImage(name, rootDisk, bucket string, user *bundle.Identity) (string, error) {
	return s.SeedBundle(SeedBundle{Name: name, File: rootDisk, Bucket: bucket, User: user})
}

// SeedBundle describes an instance-store image SeedBundle registers.
type SeedBundle struct {
	Name, File, Bucket string
	// User signs the bundle and can open it (its certificate is registered). When Admin is
	// set instead, the bundle is signed by the cloud and encrypted to the cloud alone, as
	// kernels bundled by a cloud administrator are: users cannot open it with their keys.
	User  *bundle.Identity
	Admin bool
	// Type is machine (default), kernel (an eki-) or ramdisk (an eri-).
	Type string
	// KernelID and RamdiskID go into the manifest of a machine image.
	KernelID, RamdiskID string
	// VirtualizationType it is registered with: hvm (the default) or paravirtual.
	VirtualizationType string
	// AncestorAMIIDs go into the manifest's <ancestry>.
	AncestorAMIIDs []string
}

// SeedBundle seeds an instance-store image as BundledImage does, of any image type.
func (s *Server) SeedBundle(o SeedBundle) (string, error) {
	name, rootDisk, bucket := o.Name, o.File, o.Bucket
	signKey, userCert := s.cloudIdentity().Key, (*x509.Certificate)(nil)
	if !o.Admin {
		if err := s.RegisterUserCertificate(o.User.CertPEM); err != nil {
			return "", err
		}
		signKey, userCert = o.User.Key, o.User.Cert
	}
	f, err := os.Open(rootDisk)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	s.CreateBucket(bucket)
	m, text, err := bundle.Write(context.Background(), f, fi.Size(), bundle.WriteOptions{
		Name: name + ".img", Prefix: name, User: s.AccountID, SignKey: signKey, CloudCert: s.cloudIdentity().Cert, UserCert: userCert,
		BlockDevices: map[string]string{"ami": "sda", "root": "/dev/sda"}, Type: o.Type, KernelID: o.KernelID, RamdiskID: o.RamdiskID,
		AncestorAMIIDs: o.AncestorAMIIDs,
	}, func(p bundle.Part, data []byte) error { return s.putObjectBytes(bucket, p.Filename, data) })
	if err != nil {
		return "", err
	}
	_ = m
	if err := s.putObjectBytes(bucket, bundle.ManifestName(name), text); err != nil {
		return "", err
	}
	virt := o.VirtualizationType
	if virt == "" {
		virt = "hvm"
	}
	s.mu.Lock()
	im, ae := s.registerBundle(name, "", bucket+"/"+bundle.ManifestName(name), "x86_64", virt, "/dev/sda", false)
	s.mu.Unlock()
	if ae != nil {
		return "", ae
	}
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		s.st.tick()
		state, reason := im.state, im.stateReason
		s.mu.Unlock()
		switch state {
		case "available":
			return im.id, nil
		case "failed":
			return "", fmt.Errorf("ec2emu: image %s failed: %s", im.id, reason)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "", fmt.Errorf("ec2emu: image %s still pending", im.id)
}

// putObjectBytes stores an object (seeding and the emulator's own bundles).
func (s *Server) putObjectBytes(bucket, key string, data []byte) error {
	f, err := os.CreateTemp(s.s3dir("objects"), "obj-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	sum := md5.Sum(data)
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.st.buckets[bucket]
	if b == nil {
		os.Remove(f.Name())
		return fmt.Errorf("no bucket %s", bucket)
	}
	if old := b.objects[key]; old != nil {
		os.Remove(old.path)
	}
	b.objects[key] = &s3Object{path: f.Name(), size: int64(len(data)), etag: `"` + hex.EncodeToString(sum[:]) + `"`,
		modified: time.Now().UTC(), contentType: "binary/octet-stream"}
	return nil
}

// registerBundle registers an instance-store image from bucket/prefix.manifest.xml: the
// manifest is read and verified now; the parts are unbundled in the background. The caller
// holds s.mu.
func (s *Server) registerBundle(name, description, location, arch, virt, rootDevice string, unbundle bool) (*image, *apiError) {
	st := s.st
	bucket, key, ok := strings.Cut(strings.TrimPrefix(location, "/"), "/")
	if !ok || !strings.HasSuffix(key, ".manifest.xml") {
		return nil, errf(400, "InvalidParameterValue", "ImageLocation %q is not bucket/prefix.manifest.xml", location)
	}
	mo := s.s3object(bucket, key)
	if mo == nil {
		return nil, errf(400, "InvalidManifest", "Failed to read the manifest %s: no such object", location)
	}
	raw, err := os.ReadFile(mo.path)
	if err != nil {
		return nil, errf(500, "InternalError", "%v", err)
	}
	m, err := bundle.ParseManifest(raw)
	if err != nil {
		return nil, errf(400, "InvalidManifest", "%v", err)
	}
	certs := append([]*x509.Certificate{s.cloudIdentity().Cert}, s.userCerts...)
	if err := m.Verify(certs...); err != nil {
		return nil, errf(400, "InvalidManifest", "Manifest %s: %v", location, err)
	}
	aesKey, iv, err := m.Keys(s.cloudIdentity().Key)
	if err != nil {
		return nil, errf(400, "InvalidManifest", "Manifest %s: the ec2_encrypted_key does not open with the cloud key: %v", location, err)
	}
	dir := key[:strings.LastIndex(key, "/")+1]
	paths := map[string]string{}
	for _, p := range m.Parts {
		o := s.s3object(bucket, dir+p.Filename)
		if o == nil {
			return nil, errf(400, "InvalidManifest", "Manifest %s: part %s is missing", location, p.Filename)
		}
		paths[p.Filename] = o.path
	}
	if arch == "" {
		arch = m.Architecture
	}
	if arch == "" {
		arch = "x86_64"
	}
	if rootDevice == "" {
		rootDevice = "/dev/sda1"
		if d := m.BlockDevices["root"]; d != "" {
			rootDevice = d
		}
	}
	if virt == "" {
		virt = "paravirtual"
	}
	now := time.Now().UTC()
	// A kernel or ramdisk bundle (euca-bundle-image --kernel true / --ramdisk true) is
	// registered as an eki-/eri- image (aki-/ari- in the AWS dialect); its type is its id's.
	idPrefix := "ami"
	switch m.Type {
	case "kernel":
		idPrefix = "aki"
		if s.opts.Dialect == Eucalyptus {
			idPrefix = "eki"
		}
	case "ramdisk":
		idPrefix = "ari"
		if s.opts.Dialect == Eucalyptus {
			idPrefix = "eri"
		}
	case "", "machine":
	default:
		return nil, errf(400, "InvalidManifest", "Manifest %s: unknown image type %q", location, m.Type)
	}
	im := &image{id: st.id(idPrefix), name: name, description: description, ownerID: s.AccountID, state: "pending",
		arch: arch, rootDevice: rootDevice, virtType: virt, location: location, kernelID: m.KernelID, ramdiskID: m.RamdiskID,
		created: now, readyAt: now.Add(s.opts.ImageDelay), rootType: "instance-store", pendingWork: true}
	st.images[im.id] = im
	if !unbundle {
		// Seeding: the content is known to be the bundled disk.
		im.pendingWork = false
		return im, nil
	}
	im.diskPath = filepath.Join(s.s3dir("images"), im.id+".raw")
	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
		err := unbundleFile(m, aesKey, iv, paths, im.diskPath)
		s.mu.Lock()
		defer s.mu.Unlock()
		im.pendingWork = false
		if err != nil || st.images[im.id] != im { // failed, or deregistered meanwhile
			if err != nil {
				im.failed = "unbundling failed: " + err.Error()
			}
			os.Remove(im.diskPath)
		}
	}()
	return im, nil
}

func unbundleFile(m *bundle.Manifest, key, iv []byte, paths map[string]string, dst string) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(m.Size); err != nil {
		return err
	}
	return bundle.Read(context.Background(), m, key, iv, func(_ context.Context, p bundle.Part) (io.ReadCloser, error) {
		return os.Open(paths[p.Filename])
	}, f, bundle.ReadOptions{})
}

// ---- BundleInstance ----

func (rc *reqCtx) bundleInstance(p params) (any, *apiError) {
	s := rc.s
	st := s.st
	in := st.instances[p.get("InstanceId")]
	if in == nil {
		return nil, errf(400, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", p.get("InstanceId"))
	}
	if in.rootDisk == "" {
		return nil, errf(400, "InvalidParameterValue", "Instance %s is EBS-backed: use CreateImage", in.id)
	}
	if in.state != "running" {
		return nil, errf(400, "IncorrectInstanceState", "The instance '%s' is not in the 'running' state.", in.id)
	}
	for _, t := range st.bundles {
		if t.instanceID == in.id && t.state != "complete" && t.state != "failed" {
			return nil, errf(400, "BundlingInProgress", "Instance %s is already being bundled (%s)", in.id, t.id)
		}
	}
	bucket, prefix := p.get("Storage.S3.Bucket"), p.get("Storage.S3.Prefix")
	if bucket == "" || prefix == "" {
		return nil, errf(400, "MissingParameter", "Storage.S3.Bucket and Storage.S3.Prefix are required")
	}
	if !validBucketName(bucket) || strings.ContainsAny(prefix, "/\\") {
		return nil, errf(400, "InvalidParameterValue", "bad bucket %q or prefix %q", bucket, prefix)
	}
	// The upload policy: base64 JSON, signed HMAC-SHA1 with the access key's secret.
	ak, pol, sig := p.get("Storage.S3.AWSAccessKeyId"), p.get("Storage.S3.UploadPolicy"), p.get("Storage.S3.UploadPolicySignature")
	if ak != s.AccessKeyID {
		return nil, errf(400, "InvalidParameterValue", "Storage.S3.AWSAccessKeyId %q is not yours", ak)
	}
	mac := hmac.New(sha1.New, []byte(s.SecretAccessKey))
	mac.Write([]byte(pol))
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); sig != want {
		return nil, errf(400, "InvalidParameterValue", "Storage.S3.UploadPolicySignature does not match the upload policy")
	}
	polJSON, err := base64.StdEncoding.DecodeString(pol)
	var policy struct {
		Expiration string `json:"expiration"`
		Conditions []any  `json:"conditions"`
	}
	if err != nil || json.Unmarshal(polJSON, &policy) != nil {
		return nil, errf(400, "InvalidParameterValue", "Storage.S3.UploadPolicy is not base64 JSON")
	}
	if exp, err := time.Parse(time.RFC3339, policy.Expiration); err != nil || exp.Before(time.Now()) {
		return nil, errf(400, "InvalidParameterValue", "the upload policy has expired or no expiration (%q)", policy.Expiration)
	}
	okBucket := false
	for _, c := range policy.Conditions {
		if m, ok := c.(map[string]any); ok && m["bucket"] == bucket {
			okBucket = true
		}
	}
	if !okBucket {
		return nil, errf(400, "InvalidParameterValue", "the upload policy does not allow bucket %s", bucket)
	}
	if st.buckets[bucket] == nil {
		st.buckets[bucket] = &s3Bucket{name: bucket, created: time.Now().UTC(), objects: map[string]*s3Object{}, uploads: map[string]*s3Upload{}}
	}
	now := time.Now().UTC()
	ctx, cancel := context.WithCancel(context.Background())
	t := &bundleTask{id: "bun-" + strings.TrimPrefix(st.id("x"), "x-"), instanceID: in.id, bucket: bucket, prefix: prefix,
		accessKey: ak, policy: pol, policySig: sig, state: "pending", progress: "0%", start: now, update: now, cancel: cancel}
	st.bundles[t.id] = t
	disk, arch := in.rootDisk, in.arch
	var userCert *x509.Certificate
	if len(s.userCerts) > 0 {
		userCert = s.userCerts[len(s.userCerts)-1]
	}
	cloud := s.cloudIdentity()
	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
		defer cancel()
		set := func(state, progress string) {
			s.mu.Lock()
			defer s.mu.Unlock()
			if t.state == "cancelling" {
				return
			}
			t.state, t.update = state, time.Now().UTC()
			if progress != "" {
				t.progress = progress
			}
		}
		select {
		case <-time.After(s.opts.ImageDelay):
		case <-ctx.Done():
		}
		set("bundling", "0%")
		var keys []string
		err := func() error {
			f, err := os.Open(disk)
			if err != nil {
				return err
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				return err
			}
			_, text, err := bundle.Write(ctx, f, fi.Size(), bundle.WriteOptions{
				Name: prefix + ".img", Prefix: prefix, User: s.AccountID, Architecture: arch,
				SignKey: cloud.Key, CloudCert: cloud.Cert, UserCert: userCert,
				BlockDevices: map[string]string{"ami": "sda", "root": "/dev/sda"},
				Progress: func(done int64) {
					set("bundling", fmt.Sprintf("%d%%", min(99, 100*done/max(fi.Size(), 1))))
				},
			}, func(p bundle.Part, data []byte) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				keys = append(keys, p.Filename)
				return s.putObjectBytes(bucket, p.Filename, data)
			})
			if err != nil {
				return err
			}
			set("storing", "99%")
			keys = append(keys, bundle.ManifestName(prefix))
			return s.putObjectBytes(bucket, bundle.ManifestName(prefix), text)
		}()
		s.mu.Lock()
		defer s.mu.Unlock()
		t.update = time.Now().UTC()
		switch {
		case t.state == "cancelling" || ctx.Err() != nil:
			t.state, t.errCode, t.errMsg = "failed", "Client.Cancelled", "the bundle task was cancelled"
		case err != nil:
			t.state, t.errCode, t.errMsg = "failed", "Server.InternalError", err.Error()
		default:
			t.state, t.progress = "complete", "100%"
			return
		}
		// A failed or cancelled task leaves no partial bundle.
		if b := st.buckets[bucket]; b != nil {
			for _, k := range keys {
				if o := b.objects[k]; o != nil {
					os.Remove(o.path)
					delete(b.objects, k)
				}
			}
		}
	}()
	return struct {
		Task xBundleTask `xml:"bundleInstanceTask"`
	}{t.x()}, nil
}

func (rc *reqCtx) describeBundleTasks(p params) (any, *apiError) {
	st := rc.s.st
	match, ae := describe(p, st.bundles, "BundleId", func(id string) *apiError {
		return errf(400, "InvalidBundleID.NotFound", "The bundle task '%s' does not exist", id)
	}, nil, func(t *bundleTask, name string) ([]string, bool) {
		switch name {
		case "bundle-id":
			return []string{t.id}, true
		case "instance-id":
			return []string{t.instanceID}, true
		case "state":
			return []string{t.state}, true
		case "s3-bucket":
			return []string{t.bucket}, true
		case "s3-prefix":
			return []string{t.prefix}, true
		}
		return nil, false
	}, nil)
	if ae != nil {
		return nil, ae
	}
	out := struct {
		Tasks []xBundleTask `xml:"bundleInstanceTasksSet>item"`
	}{}
	for _, id := range match {
		out.Tasks = append(out.Tasks, st.bundles[id].x())
	}
	return out, nil
}

func (rc *reqCtx) cancelBundleTask(p params) (any, *apiError) {
	t := rc.s.st.bundles[p.get("BundleId")]
	if t == nil {
		return nil, errf(400, "InvalidBundleID.NotFound", "The bundle task '%s' does not exist", p.get("BundleId"))
	}
	if t.state == "complete" || t.state == "failed" {
		return nil, errf(400, "IncorrectState", "The bundle task %s is %s", t.id, t.state)
	}
	t.state, t.update = "cancelling", time.Now().UTC()
	t.cancel()
	return struct {
		Task xBundleTask `xml:"bundleInstanceTask"`
	}{t.x()}, nil
}

// VolumeIDs lists every volume id (to check that nothing is left behind).
func (s *Server) VolumeIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sortedKeys(s.st.volumes)
}

// serveEmpyrean answers the Eucalyptus bootstrap service (/services/Empyrean):
// DescribeServiceCertificates gives the cloud certificate bundles are encrypted to.
func (s *Server) serveEmpyrean(rc *reqCtx) {
	body, ae := rc.readSmallBody()
	if ae != nil {
		rc.fail(ae)
		return
	}
	sum := sha256.Sum256(body)
	if _, err := s.verifySigV4(rc.r, hex.EncodeToString(sum[:]), false); err != nil {
		rc.authFail(err)
		return
	}
	vals := rc.r.URL.Query()
	if form, err := url.ParseQuery(string(body)); err == nil {
		for k, v := range form {
			vals[k] = append(vals[k], v...)
		}
	}
	rc.action = vals.Get("Action")
	if rc.applyFault() {
		return
	}
	if rc.action != "DescribeServiceCertificates" {
		rc.fail(errf(400, "InvalidAction", "The action %s is not valid for this web service.", rc.action))
		return
	}
	if f := strings.ToLower(vals.Get("Format")); f != "" && f != "pem" {
		rc.fail(errf(400, "InvalidParameterValue", "the emulator serves pem certificates only, not %s", f))
		return
	}
	cert := s.cloudIdentity().Cert
	fp := sha256.Sum256(cert.Raw)
	type item struct {
		Certificate       string `xml:"certificate"`
		Fingerprint       string `xml:"certificateFingerprint"`
		FingerprintDigest string `xml:"certificateFingerprintDigest"`
		Format            string `xml:"certificateFormat"`
		Usage             string `xml:"certificateUsage"`
		ServiceType       string `xml:"serviceType"`
	}
	out := struct {
		XMLName xml.Name `xml:"DescribeServiceCertificatesResponse"`
		Xmlns   string   `xml:"xmlns,attr"`
		Certs   []item   `xml:"serviceCertificates>item"`
		Meta    struct {
			CorrelationID string `xml:"correlationId"`
			Return        bool   `xml:"_return"`
		} `xml:"EmpyreanMessage"`
	}{Xmlns: "http://www.eucalyptus.com/ns/empyrean/2012-10-01/"}
	out.Certs = []item{{Certificate: string(s.cloudIdentity().CertPEM), Fingerprint: hex.EncodeToString(fp[:]), FingerprintDigest: "SHA-256",
		Format: "pem", Usage: "image-bundling", ServiceType: "compute"}}
	out.Meta.CorrelationID, out.Meta.Return = rc.requestID, true
	rc.writeXML(200, out)
}
