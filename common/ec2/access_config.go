//go:generate packer-sdc struct-markdown
//go:generate packer-sdc mapstructure-to-hcl2 -type AccessConfig

package ec2common

import (
	"context"
	"errors"
	"fmt"
	"os"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
)

// AccessConfig says how to reach AWS or an EC2-compatible cloud. Leave the credentials empty to
// use the usual AWS sources, as the AWS CLI does: `AWS_ACCESS_KEY_ID` /
// `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, `AWS_PROFILE` and the shared config and
// credentials files (with roles to assume and SSO), then container and instance roles.
type AccessConfig struct {
	// The access key. With `secret_key`, it overrides every other source. With a
	// `eucalyptus` block, the pair defaults to `EC2_ACCESS_KEY` and `EC2_SECRET_KEY` (a
	// sourced eucarc) when both are set and none of `secret_key`, `token` and `profile` is
	// given; they come before the AWS sources.
	AccessKey string `mapstructure:"access_key" required:"false"`
	// The secret key.
	SecretKey string `mapstructure:"secret_key" required:"false"`
	// A session token for temporary credentials.
	Token string `mapstructure:"token" required:"false"`
	// The profile of the shared config and credentials files. Defaults to `AWS_PROFILE` or
	// `default`.
	Profile string `mapstructure:"profile" required:"false"`
	// The shared credentials file. Defaults to `AWS_SHARED_CREDENTIALS_FILE` or
	// `~/.aws/credentials`.
	SharedCredentialsFile string `mapstructure:"shared_credentials_file" required:"false"`
	// The shared config file. Defaults to `AWS_CONFIG_FILE` or `~/.aws/config`.
	SharedConfigFile string `mapstructure:"shared_config_file" required:"false"`
	// The region. Defaults to `AWS_REGION`, `AWS_DEFAULT_REGION` or the profile's region.
	// Any name works for clouds that ignore it: with a `eucalyptus` block it defaults to
	// `eucalyptus` (a eucarc names no region).
	Region string `mapstructure:"region" required:"false"`
	// A custom EC2 endpoint, such as a VPC endpoint, or the compute endpoint of a Eucalyptus
	// cloud controller (`https://clc.example.org:8773/services/compute`, or whatever URL a
	// proxy or the cloud's DNS names give it). It is the `eucalyptus` block, not the shape of
	// this URL, that makes a build go the Eucalyptus way; an endpoint ending in
	// `/services/compute` without that block (and without `custom_endpoint_ebs`) is an error.
	// With a `eucalyptus` block it defaults to `EC2_URL` (a sourced eucarc).
	CustomEndpointEC2 string `mapstructure:"custom_endpoint_ec2" required:"false"`
	// A custom endpoint of the EBS direct APIs.
	CustomEndpointEBS string `mapstructure:"custom_endpoint_ebs" required:"false"`
	// A custom S3 endpoint (path-style addressing is used), such as
	// `https://clc.example.org:8773/services/objectstorage`. S3 carries Eucalyptus bundles
	// and import parts only: it needs a `eucalyptus` block. It defaults to `S3_URL` (a
	// sourced eucarc).
	CustomEndpointS3 string `mapstructure:"custom_endpoint_s3" required:"false"`
	// How S3 requests are signed: `v4` (the default) or `v2`, for the object storage of
	// Eucalyptus before 4.4, which accepts only signature version 2. `v2` needs
	// `custom_endpoint_s3`.
	S3SignatureVersion string `mapstructure:"s3_signature_version" required:"false"`
	// Do not verify TLS certificates (self-signed private clouds). `AWS_CA_BUNDLE` is the safer
	// way to trust a private CA.
	InsecureSkipTLSVerify bool `mapstructure:"insecure_skip_tls_verify" required:"false"`
	// How many times the SDK tries one request on throttling and server errors. Defaults to 8.
	MaxRetries int `mapstructure:"max_retries" required:"false"`
	// Work as an IAM role: see the `assume_role` block below.
	AssumeRole AssumeRoleConfig `mapstructure:"assume_role" required:"false"`
	// A custom STS endpoint for `assume_role` (a VPC endpoint, a private cloud's STS).
	CustomEndpointSTS string `mapstructure:"custom_endpoint_sts" required:"false"`
	// Do not check `region` and `ami_regions` against the regions the cloud lists
	// (DescribeRegions, at the start of the build, as packer-plugin-amazon does). The check
	// is never made on Eucalyptus, whose region name is free.
	SkipRegionValidation bool `mapstructure:"skip_region_validation" required:"false"`
}

// Prepare validates the settings; every error names its field.
func (c *AccessConfig) Prepare() []error {
	var errs []error
	packersdk.LogSecretFilter.Set(c.SecretKey, c.Token)
	if (c.AccessKey == "") != (c.SecretKey == "") {
		errs = append(errs, fmt.Errorf("access_key and secret_key go together"))
	}
	if c.Token != "" && c.AccessKey == "" {
		errs = append(errs, fmt.Errorf("token needs access_key and secret_key"))
	}
	for field, path := range map[string]string{"shared_credentials_file": c.SharedCredentialsFile, "shared_config_file": c.SharedConfigFile} {
		if path == "" {
			continue
		}
		if _, err := os.Stat(path); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		}
	}
	if c.MaxRetries < 0 {
		errs = append(errs, fmt.Errorf("max_retries must not be negative"))
	}
	errs = append(errs, c.AssumeRole.Prepare()...)
	if c.CustomEndpointSTS != "" && c.AssumeRole.RoleARN == "" {
		errs = append(errs, errors.New("custom_endpoint_sts is only used by assume_role: add an assume_role block or remove it"))
	}
	switch c.S3SignatureVersion {
	case "", "v4":
		c.S3SignatureVersion = "v4"
	case "v2":
		if c.CustomEndpointS3 == "" {
			errs = append(errs, fmt.Errorf("s3_signature_version v2 is for Eucalyptus object storage before 4.4: set custom_endpoint_s3 too"))
		}
	default:
		errs = append(errs, fmt.Errorf("s3_signature_version %q: want v4 or v2", c.S3SignatureVersion))
	}
	return errs
}

// PrepareCloud checks the endpoints against the cloud the template chose: eucalyptus is true
// when the template has a `eucalyptus` block, which alone makes the cloud Eucalyptus. The
// endpoints never decide it silently: one that contradicts the choice is an error naming the
// field.
func (c *AccessConfig) PrepareCloud(eucalyptus bool) []error {
	var errs []error
	if eucalyptus {
		if c.CustomEndpointEC2 == "" {
			errs = append(errs, errors.New("custom_endpoint_ec2 is required with a eucalyptus block: the cloud controller's compute endpoint, such as https://clc.example.org:8773/services/compute"))
		}
		if c.CustomEndpointEBS != "" {
			errs = append(errs, errors.New("custom_endpoint_ebs: Eucalyptus has no EBS direct API; remove it, or the eucalyptus block if this cloud is AWS-compatible"))
		}
		return errs
	}
	if cloud.IsEucalyptusEndpoint(c.CustomEndpointEC2) && c.CustomEndpointEBS == "" {
		errs = append(errs, fmt.Errorf("custom_endpoint_ec2 %q is a Eucalyptus cloud controller: add a eucalyptus block (keys, bucket), or set custom_endpoint_ebs if this cloud has the EBS direct API", c.CustomEndpointEC2))
	}
	// S3 carries Eucalyptus bundles and import parts only.
	if c.CustomEndpointS3 != "" {
		errs = append(errs, errors.New("custom_endpoint_s3 is used by Eucalyptus builds only (bundles, ImportVolume parts): add a eucalyptus block or remove it"))
	}
	if c.S3SignatureVersion == "v2" {
		errs = append(errs, errors.New(`s3_signature_version "v2" is for Eucalyptus object storage before 4.4: add a eucalyptus block or remove it`))
	}
	return errs
}

// Access is the adapter's form of the settings; eucalyptus says the cloud is Eucalyptus (no
// EBS direct API).
func (c *AccessConfig) Access(connections int, eucalyptus bool) cloud.Access {
	return cloud.Access{
		AccessKey: c.AccessKey, SecretKey: c.SecretKey, Token: c.Token, Profile: c.Profile,
		SharedCredentialsFile: c.SharedCredentialsFile, SharedConfigFile: c.SharedConfigFile,
		Region: c.Region, EC2Endpoint: c.CustomEndpointEC2, EBSEndpoint: c.CustomEndpointEBS,
		S3Endpoint: c.CustomEndpointS3, Insecure: c.InsecureSkipTLSVerify, MaxRetries: c.MaxRetries,
		Connections: connections, S3SigV2: c.S3SignatureVersion == "v2", Eucalyptus: eucalyptus,
		AssumeRole: c.AssumeRole.cloud(), STSEndpoint: c.CustomEndpointSTS,
	}
}

// ValidateRegions checks the build's region and the extra ones (ami_regions) against the
// cloud's DescribeRegions, unless skip_region_validation is set or the cloud is Eucalyptus.
func (c *AccessConfig) ValidateRegions(ctx context.Context, cl *cloud.Clients, extra ...string) error {
	if c.SkipRegionValidation || !cl.HasEBSDirect {
		return nil
	}
	return cloud.ValidateRegions(ctx, cl.EC2, append([]string{cl.Region}, extra...)...)
}
