// Package ec2emu is an in-process emulator of the AWS wire protocols the chromogenic EC2
// builder, post-processor and datasource use: the EC2 Query API (XML, 2016-11-15), the EBS
// direct APIs (REST-JSON) and S3 (REST-XML, path-style). It listens on 127.0.0.1 only,
// verifies SigV4 signatures against its static credentials and keeps real data: snapshots
// hold 512 KiB blocks in a sparse store backed by one temporary file, volumes and S3 objects
// are temporary files.
//
// It exists because neither AWS nor Eucalyptus can run on the test hosts. Drive it through
// the real aws-sdk-go-v2 clients with BaseEndpoint set to its endpoints:
//
//	srv := ec2emu.Start(t, ec2emu.Options{ImageDelay: 200 * time.Millisecond})
//	cfg := srv.AWSConfig() // static credentials, region, HTTP client
//	ec2c := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(srv.EC2Endpoint) })
//	ebsc := ebs.NewFromConfig(cfg, func(o *ebs.Options) { o.BaseEndpoint = aws.String(srv.EBSEndpoint) })
//	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.BaseEndpoint = aws.String(srv.S3Endpoint); o.UsePathStyle = true })
//
// Seeding and inspection (Go side): AddInstance (a running instance whose root EBS volume is
// a local raw disk file, read only), AddImage, CreateBucket, PutObjectFile; Snapshot,
// SnapshotIDs, ImageIDs, WriteSnapshotFile, VolumePath (the "device" of an attached volume),
// ObjectPath, MultipartUploads, InstanceReboots, Calls and CallCount (the request log).
//
// Faults: InjectFault / FailNext / ClearFaults / FaultsFired. A fault matches by service and
// action, can skip the first N calls and hit the next M, and answers an error code with an
// HTTP status, delays, cuts the connection mid-body, or corrupts a block/object payload.
//
// State machines are time driven: images, snapshots and import tasks stay pending for
// Options.ImageDelay / SnapshotDelay / ImportDelay (and until their data is copied); new
// volumes stay "creating" and attachments "attaching" / "detaching" for Options.VolumeDelay.
//
// The Packer host (AddPackerHost): the instance a build runs on, described by an instance
// metadata service on its own listener (IMDSEndpoint, for AWS_EC2_METADATA_SERVICE_ENDPOINT;
// IMDSv2 in the AWS dialect, IMDSv1 in the Eucalyptus one). With PackerHost.LoopDevices, a
// volume attached to it becomes a real block device (a loop device over the volume's file and
// a node at the requested /dev/sdX or /dev/xvdX path); a detach while the device is mounted
// or held exclusively stays "busy" (BusyDetaches); HostDevices lists what is held and Close
// releases it.
//
// Regions (AWS dialect): one emulator serves every region; a request's region is its SigV4
// credential scope, images and snapshots live in the region that made them (CopyImage copies
// from SourceRegion into the request's region), DescribeRegions lists the AWS regions
// (ec2_copy.go). Sharing: launch permissions (accounts, "all", organization ARNs) and
// snapshot createVolumePermission (ec2_attributes.go). STS (STSEndpoint): AssumeRole hands
// out temporary credentials the emulator then accepts with their session token; the request
// log records each call's access key and region (sts.go).
//
// With Options.Dialect = Eucalyptus the emulator answers like a Eucalyptus 4.4 cloud
// controller: EC2 at /services/compute and S3 at /services/objectstorage on one port, emi-
// and 8-hex-digit ids, no EBS direct API, ImportImage/ImportSnapshot as empty stubs,
// ImportVolume with import manifests, and UnknownParameter for parameters newer than EC2 API
// 2016-09-15.
//
// Instance-store (both dialects, used with Eucalyptus): AddInstance with RootDeviceType
// "instance-store" seeds an instance whose root disk is held as data; BundleInstance /
// DescribeBundleTasks / CancelBundleTask make real bundles of it in S3; RegisterImage with
// ImageLocation=bucket/prefix.manifest.xml verifies the manifest with the cloud key pair
// (CloudCertPEM, CloudKeyPEM; users' certificates via RegisterUserCertificate) and unbundles
// it (ImageDiskPath). BundledImage seeds such an image. The Eucalyptus dialect also answers
// the bootstrap service's DescribeServiceCertificates at /services/Empyrean with the cloud
// certificate, as euca2ools fetches cloud-cert.pem.
package ec2emu

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2/bundle"
)

// Dialect selects which cloud the emulator pretends to be.
type Dialect int

const (
	// AWS is the default: three endpoints (EC2, EBS direct, S3), ami- ids.
	AWS Dialect = iota
	// Eucalyptus emulates a Eucalyptus 4.4 cloud controller: one endpoint with
	// /services/compute and /services/objectstorage, emi- ids, no EBS direct API.
	Eucalyptus
)

// Static credentials every emulator accepts unless Options overrides them.
const (
	DefaultAccessKeyID     = "AKIAEC2EMUEXAMPLE000"
	DefaultSecretAccessKey = "ec2emu/secret/K7MDENG/bPxRfiCYEXAMPLEKEY"
	DefaultRegion          = "us-east-1"
	DefaultAccountID       = "123456789012"
	// BlockSize is the EBS direct API block size.
	BlockSize = 512 * 1024
	gib       = int64(1) << 30
)

// Options configure a Server. The zero value is usable.
type Options struct {
	Dialect         Dialect
	AccessKeyID     string // default DefaultAccessKeyID
	SecretAccessKey string // default DefaultSecretAccessKey
	Region          string // default DefaultRegion (Eucalyptus: "eucalyptus")
	AccountID       string // default DefaultAccountID
	// TLS serves HTTPS with a self-signed certificate; AWSConfig trusts it. The SDK then uses
	// its HTTPS-only upload modes (aws-chunked with trailing checksums).
	TLS bool
	// ImageDelay is how long a new image (CreateImage, RegisterImage, CopyImage, ImportImage)
	// stays pending. SnapshotDelay is the same for snapshots, ImportDelay for import tasks.
	ImageDelay    time.Duration
	SnapshotDelay time.Duration
	ImportDelay   time.Duration
	// VolumeDelay is how long a new volume stays "creating" and an attachment "attaching"
	// or "detaching" (DescribeVolumes), as EBS takes a few seconds for each.
	VolumeDelay time.Duration
	// Latency is added to every request (for benchmarks with AWS-like latencies).
	Latency time.Duration
	// Dir holds the emulator's data files; default a new temporary directory removed on Close.
	Dir string
	// EC2Addr, EBSAddr and S3Addr are the listen addresses (default 127.0.0.1:0, a free
	// port). The Eucalyptus dialect listens on EC2Addr only. Only loopback hosts are allowed.
	EC2Addr, EBSAddr, S3Addr string
	// Logf, when set, receives one line per request.
	Logf func(format string, args ...any)
	// S3SigV2 makes the object storage answer like Eucalyptus before 4.4: S3 requests must
	// carry an AWS signature version 2 ("Authorization: AWS key:signature"); version 4 is
	// refused.
	S3SigV2 bool
	// ComputePath is where the Eucalyptus dialect serves EC2 (default /services/compute), as
	// a front proxy or the cloud's DNS service names (http://compute.example.org:8773/) put
	// it elsewhere: "/compute" gives an EC2Endpoint that does not end in /services/compute.
	// The object storage and the bootstrap service stay under /services/.
	ComputePath string
}

// Server is a running emulator. Its exported fields are read-only.
type Server struct {
	// Endpoints to use as the SDK clients' BaseEndpoint. EBSEndpoint is empty in the
	// Eucalyptus dialect.
	EC2Endpoint string
	EBSEndpoint string
	S3Endpoint  string
	// STSEndpoint answers AssumeRole (sts.go); empty in the Eucalyptus dialect.
	STSEndpoint string
	// IMDSEndpoint is the instance metadata service of the Packer host (AddPackerHost), for
	// AWS_EC2_METADATA_SERVICE_ENDPOINT; empty until a host is added.
	IMDSEndpoint string
	// Credentials and region the emulator verifies signatures with.
	AccessKeyID     string
	SecretAccessKey string
	Region          string
	AccountID       string

	opts      Options
	dir       string
	removeDir bool
	servers   []*httptest.Server
	certPool  *x509.CertPool

	cloudOnce sync.Once
	cloud     *bundle.Identity

	mu        sync.Mutex
	userCerts []*x509.Certificate
	st        *state
	blocks    *blockStore
	faults    []*faultRule
	calls     []Call
	closeOnce sync.Once

	// requireTags denies untagged creation (RequireTagsOnCreate, ec2_encryption.go).
	requireTags bool

	host         *packerHost
	busyDetaches int

	stsMu     sync.Mutex
	tempCreds map[string]tempCred // AssumeRole's temporary credentials (sts.go)
	assumed   []AssumedRole
}

// Call records one request the emulator answered.
type Call struct {
	Service string // "ec2", "ebs" or "s3"
	Action  string // EC2 Action, or the EBS/S3 operation name
	Status  int    // HTTP status sent (0 when the connection was dropped)
	Code    string // error code, if any
	// AccessKey and Region are the request's SigV4 credential (empty when unsigned or
	// signed otherwise).
	AccessKey, Region string
	// Payload is the request's x-amz-content-sha256 mode: "", "sha256" (a hex digest),
	// UNSIGNED-PAYLOAD or one of the STREAMING-* modes.
	Payload string
}

// Start starts an emulator for a test and closes it when the test ends.
func Start(t testing.TB, opts ...Options) *Server {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	s, err := New(o)
	if err != nil {
		t.Fatalf("ec2emu: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// New starts an emulator outside of a test. Call Close when done.
func New(o Options) (*Server, error) {
	if o.AccessKeyID == "" {
		o.AccessKeyID = DefaultAccessKeyID
	}
	if o.SecretAccessKey == "" {
		o.SecretAccessKey = DefaultSecretAccessKey
	}
	if o.Region == "" {
		o.Region = DefaultRegion
		if o.Dialect == Eucalyptus {
			o.Region = "eucalyptus"
		}
	}
	if o.AccountID == "" {
		o.AccountID = DefaultAccountID
	}
	s := &Server{
		AccessKeyID:     o.AccessKeyID,
		SecretAccessKey: o.SecretAccessKey,
		Region:          o.Region,
		AccountID:       o.AccountID,
		opts:            o,
		dir:             o.Dir,
	}
	if s.dir == "" {
		d, err := os.MkdirTemp("", "ec2emu-")
		if err != nil {
			return nil, err
		}
		s.dir, s.removeDir = d, true
	}
	bs, err := newBlockStore(s.dir)
	if err != nil {
		s.cleanupDir()
		return nil, err
	}
	s.blocks = bs
	s.st = newState(s)

	if o.Dialect == Eucalyptus {
		var base string
		base, err = s.listen(o.EC2Addr, http.HandlerFunc(s.serveEucalyptus))
		s.EC2Endpoint = base + s.computePath()
		s.S3Endpoint = base + "/services/objectstorage"
	} else {
		s.EC2Endpoint, err = s.listen(o.EC2Addr, s.handler("ec2", "", s.serveEC2))
		if err == nil {
			s.EBSEndpoint, err = s.listen(o.EBSAddr, s.handler("ebs", "", s.serveEBS))
		}
		if err == nil {
			s.S3Endpoint, err = s.listen(o.S3Addr, s.handler("s3", "", s.serveS3))
		}
		if err == nil {
			s.STSEndpoint, err = s.listen("", s.handler("sts", "", s.serveSTS))
		}
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) listen(addr string, h http.Handler) (string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", fmt.Errorf("listen address %s is not a loopback address", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listen on %s: %w", addr, err)
	}
	ts := httptest.NewUnstartedServer(h)
	ts.Listener.Close()
	ts.Listener = l
	ts.Config.ErrorLog = nil
	if s.opts.TLS {
		ts.StartTLS()
		if s.certPool == nil {
			s.certPool = x509.NewCertPool()
		}
		s.certPool.AddCert(ts.Certificate())
	} else {
		ts.Start()
	}
	s.servers = append(s.servers, ts)
	return ts.URL, nil
}

// serveEucalyptus routes the single Eucalyptus port by its /services/... prefix.
func (s *Server) serveEucalyptus(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/services/objectstorage" || strings.HasPrefix(p, "/services/objectstorage/"):
		s.handler("s3", "/services/objectstorage", s.serveS3).ServeHTTP(w, r)
	case p == "/services/Empyrean" || p == "/services/Empyrean/":
		s.handler("empyrean", "/services/Empyrean", s.serveEmpyrean).ServeHTTP(w, r)
	case p == s.computePath() || strings.HasPrefix(p, strings.TrimSuffix(s.computePath(), "/")+"/"):
		s.handler("ec2", strings.TrimSuffix(s.computePath(), "/"), s.serveEC2).ServeHTTP(w, r)
	default:
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "no service at %s\n", p)
	}
}

// computePath is where the Eucalyptus dialect serves EC2 (Options.ComputePath).
func (s *Server) computePath() string {
	if s.opts.ComputePath != "" {
		return s.opts.ComputePath
	}
	return "/services/compute"
}

// Close stops the listeners and removes the data files.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		for _, ts := range s.servers {
			ts.CloseClientConnections()
			ts.Close()
		}
		s.st.wg.Wait()
		s.mu.Lock()
		s.st.closeFiles()
		s.blocks.close()
		s.mu.Unlock()
		s.cleanupDir()
	})
}

func (s *Server) cleanupDir() {
	if s.removeDir {
		os.RemoveAll(s.dir)
	}
}

// HTTPClient returns an HTTP client that trusts the emulator's TLS certificate (a plain
// client when TLS is off). Its transport allows many connections per host, as parallel
// EBS workers need.
func (s *Server) HTTPClient() *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
		ForceAttemptHTTP2:   false,
	}
	if s.certPool != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: s.certPool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr}
}

// AWSConfig returns an aws.Config with the emulator's static credentials, region and HTTP
// client. Endpoints are per client: set BaseEndpoint (and UsePathStyle for S3).
func (s *Server) AWSConfig() aws.Config {
	return aws.Config{
		Region:      s.Region,
		Credentials: credentials.NewStaticCredentialsProvider(s.AccessKeyID, s.SecretAccessKey, ""),
		HTTPClient:  s.HTTPClient(),
	}
}

// Calls returns a copy of the request log.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallCount counts the logged requests for an action (EC2 Action or EBS/S3 operation name).
func (s *Server) CallCount(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Action == action {
			n++
		}
	}
	return n
}

func (s *Server) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf("ec2emu: "+format, args...)
	}
}

// newID returns prefix + 17 hex digits, the shape of current AWS ids.
func newID(prefix string) string {
	var b [9]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + "-" + hex.EncodeToString(b[:])[:17]
}

func newRequestID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
