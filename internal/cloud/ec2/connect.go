// Package ec2 is the chromogenic adapter to AWS EC2, the EBS direct APIs and S3 (and to
// EC2-compatible clouds through custom endpoints). It knows aws-sdk-go-v2 and nothing of
// Packer: credentials and endpoints, parallel EBS direct transfers of whole snapshots with
// per-block checksums, image registration, waits and cleanup, and volumes attached to the
// instance this process runs on: its identity from the instance metadata service (the SDK's
// feature/ec2/imds) and the discovery of an attached volume's block device (device.go:
// requested name, Xen/KVM spellings, NVMe or virtio serial = volume id). The discovery is
// in-house because no library offers it: the amazon plugin's equivalent is internal to its
// chroot builder, and it is a few dozen lines of sysfs reading.
//
// Publishing is here too (publish.go): Publish (an EBS snapshot through the EBS direct API,
// registered as an AMI) and PublishEucalyptus (a bundle or ImportVolume) take any opened
// diskimage.Image and report through plain callbacks (Report), so that chromogenic-ec2,
// chromogenic-ec2-import and cmd/chromogenic share them. The adapter trusts its caller's
// options and the credentials' cloud; what the cloud returns is checked (per-block SHA-256,
// states waited for), and on failure what it made is deleted. Replacing an AMI of the same
// name (replace.go: CheckName before any data moves, Deregister right before registering)
// touches only images the account owns (owner self) and never a protected source.
package ec2

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Access says how to reach the cloud. Empty fields fall back to the usual AWS sources: the
// AWS_* environment variables, the shared config and credentials files and their profiles
// (including assumed roles and SSO), and instance or container roles.
type Access struct {
	AccessKey             string
	SecretKey             string
	Token                 string
	Profile               string
	SharedCredentialsFile string
	SharedConfigFile      string
	Region                string
	// Custom endpoints (Eucalyptus, VPC endpoints, emulators). Empty: the SDK's default.
	EC2Endpoint string
	EBSEndpoint string
	S3Endpoint  string
	// Insecure skips TLS certificate verification.
	Insecure bool
	// MaxRetries is the SDK's attempts per request (default 8).
	MaxRetries int
	// Connections is the number of HTTP connections kept per host (default 64): EBS direct
	// transfers use one per worker.
	Connections int
	// S3SigV2 signs S3 requests with AWS signature version 2 instead of 4: Eucalyptus object
	// storage before 4.4 knows no other.
	S3SigV2 bool
	// Eucalyptus says the cloud is a Eucalyptus cloud controller (no EBS direct API). The
	// caller decides it; it is never guessed from the endpoints.
	Eucalyptus bool
	// AssumeRole, when set, is the role every client works as: the credentials above (or
	// the usual sources) only call STS AssumeRole, and the temporary credentials are
	// renewed before they expire (credentials/stscreds).
	AssumeRole *AssumeRole
	// STSEndpoint is a custom STS endpoint for AssumeRole. Empty: the SDK's default.
	STSEndpoint string
}

// AssumeRole is an STS AssumeRole request, as packer-plugin-amazon's assume_role block.
type AssumeRole struct {
	RoleARN, SessionName, ExternalID string
	Duration                         time.Duration
	Policy                           string
	PolicyARNs                       []string
	Tags                             map[string]string
	TransitiveTagKeys                []string
}

// Clients are the SDK clients for one region.
type Clients struct {
	Config aws.Config
	EC2    *sdkec2.Client
	EBS    *ebs.Client
	S3     *s3.Client
	Region string
	// HasEBSDirect is false when the cloud lacks the EBS direct APIs (Access.Eucalyptus).
	HasEBSDirect bool

	ec2Endpoint string // Access.EC2Endpoint, for the clients of other regions (EC2In)
}

// IsEucalyptusEndpoint tells whether an EC2 endpoint looks like a Eucalyptus cloud
// controller (…/services/compute or the 3.x …/services/Eucalyptus). It only serves to catch
// a template that contradicts itself: whether a cloud is Eucalyptus is Access.Eucalyptus.
func IsEucalyptusEndpoint(endpoint string) bool {
	e := strings.TrimRight(endpoint, "/")
	return strings.HasSuffix(e, "/services/compute") || strings.HasSuffix(e, "/services/Eucalyptus")
}

// LoadConfig resolves credentials and region into an aws.Config.
func LoadConfig(ctx context.Context, a Access) (aws.Config, error) {
	conns := a.Connections
	if conns <= 0 {
		conns = 64
	}
	client := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConns = 2 * conns
		tr.MaxIdleConnsPerHost = conns
		tr.IdleConnTimeout = 90 * time.Second
		tr.ResponseHeaderTimeout = 2 * time.Minute
		if a.Insecure {
			if tr.TLSClientConfig == nil {
				tr.TLSClientConfig = &tls.Config{}
			}
			tr.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // asked for by the user
		}
	})
	attempts := a.MaxRetries
	if attempts <= 0 {
		attempts = 8
	}
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(client),
		config.WithRetryer(func() aws.Retryer {
			// No client-side retry quota: parallel block transfers would drain it on a burst
			// of throttling and then fail instead of backing off.
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = attempts
				o.MaxBackoff = 20 * time.Second
				o.RateLimiter = ratelimit.None
			})
		}),
	}
	if a.Region != "" {
		opts = append(opts, config.WithRegion(a.Region))
	}
	if a.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(a.Profile))
	}
	if a.SharedCredentialsFile != "" {
		opts = append(opts, config.WithSharedCredentialsFiles([]string{a.SharedCredentialsFile}))
	}
	if a.SharedConfigFile != "" {
		opts = append(opts, config.WithSharedConfigFiles([]string{a.SharedConfigFile}))
	}
	if a.AccessKey != "" || a.SecretKey != "" {
		if a.AccessKey == "" || a.SecretKey == "" {
			return aws.Config{}, errors.New("access_key and secret_key go together")
		}
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(a.AccessKey, a.SecretKey, a.Token)))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("AWS configuration: %w", err)
	}
	if cfg.Region == "" && a.Eucalyptus {
		cfg.Region = "eucalyptus" // a eucarc names no region; Eucalyptus takes any in signatures
	}
	if cfg.Region == "" {
		return aws.Config{}, errors.New("no region: set region, AWS_REGION or a region in the shared config profile")
	}
	if a.AssumeRole != nil {
		cfg.Credentials = assumeRole(cfg, a.STSEndpoint, *a.AssumeRole)
	}
	return cfg, nil
}

// Connect builds the clients and checks that the credentials resolve.
func Connect(ctx context.Context, a Access) (*Clients, error) {
	cfg, err := LoadConfig(ctx, a)
	if err != nil {
		return nil, err
	}
	return NewClients(ctx, cfg, a)
}

// NewClients builds the clients from a resolved configuration and a's endpoints.
func NewClients(ctx context.Context, cfg aws.Config, a Access) (*Clients, error) {
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return nil, fmt.Errorf("AWS credentials: %w", err)
	}
	c := &Clients{Config: cfg, Region: cfg.Region, HasEBSDirect: true, ec2Endpoint: a.EC2Endpoint}
	c.EC2 = sdkec2.NewFromConfig(cfg, func(o *sdkec2.Options) {
		if a.EC2Endpoint != "" {
			o.BaseEndpoint = aws.String(a.EC2Endpoint)
		}
	})
	c.EBS = ebs.NewFromConfig(cfg, func(o *ebs.Options) {
		if a.EBSEndpoint != "" {
			o.BaseEndpoint = aws.String(a.EBSEndpoint)
		}
	})
	c.S3 = s3.NewFromConfig(cfg, func(o *s3.Options) {
		if a.S3Endpoint != "" {
			o.BaseEndpoint = aws.String(a.S3Endpoint)
			o.UsePathStyle = true
			// S3-compatible stores (Eucalyptus OSG, emulators) do not know the trailing
			// checksums the SDK sends by default.
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		}
		if a.S3SigV2 {
			o.APIOptions = append(o.APIOptions, useSigV2(cfg.Credentials))
		}
	})
	if a.Eucalyptus {
		c.HasEBSDirect = false
	}
	return c, nil
}
