//go:generate packer-sdc struct-markdown
//go:generate packer-sdc mapstructure-to-hcl2 -type EucalyptusConfig

package ec2common

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"time"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2/bundle"
)

// RegisterConfig says how the new image is registered. It is shared by the chromogenic-ec2
// builder and the chromogenic-ec2-import post-processor, which default some fields
// differently (from the source image in the builder).
type RegisterConfig struct {
	// The name of the AMI (EMI on Eucalyptus) to register (3 to 128 characters).
	AMIName string `mapstructure:"ami_name" required:"true"`
	// Its description.
	AMIDescription string `mapstructure:"ami_description" required:"false"`
	// Tags of the new AMI, set at registration (on Eucalyptus with CreateTags after it). The intermediate AMI of an instance capture carries them too, with the tag `chromogenic:build`.
	Tags map[string]string `mapstructure:"tags" required:"false"`
	// Tags of the new snapshot. Defaults to `tags`.
	SnapshotTags map[string]string `mapstructure:"snapshot_tags" required:"false"`
	// Boot mode of the new AMI: `legacy-bios`, `uefi` or `uefi-preferred`. The builder
	// defaults to the source image's; the post-processor to the region's default. Not on
	// Eucalyptus.
	BootMode string `mapstructure:"boot_mode" required:"false"`
	// ENA support of the new AMI. The builder defaults to the source image's, the
	// post-processor to false. Not on Eucalyptus.
	ENASupport *bool `mapstructure:"ena_support" required:"false"`
	// Root device name of the new AMI. The builder defaults to the source image's, the
	// post-processor to `/dev/xvda` (`/dev/sda` on Eucalyptus).
	RootDeviceName string `mapstructure:"root_device_name" required:"false"`
	// The EBS volume type of the root device. Defaults to `gp3` (`standard` on Eucalyptus).
	VolumeType string `mapstructure:"volume_type" required:"false"`
	// `v2.0` to require IMDSv2 on instances of the new AMI. Not on Eucalyptus.
	IMDSSupport string `mapstructure:"imds_support" required:"false"`
	// Blocks transferred in parallel by the EBS direct API. Defaults to 16.
	EBSConcurrency int `mapstructure:"ebs_concurrency" required:"false"`
	// How long to wait for an image, a snapshot or a cloud task. Defaults to `30m`.
	StateTimeout time.Duration `mapstructure:"state_timeout" required:"false"`
}

var amiName = regexp.MustCompile(`^[a-zA-Z0-9()\[\] ./\-'@_]{3,128}$`)

var bootModes = map[string]bool{"legacy-bios": true, "uefi": true, "uefi-preferred": true}

// Prepare validates and sets the shared defaults; register is false when nothing will be
// registered (ami_name is then optional). Every error names its field.
func (r *RegisterConfig) Prepare(register, eucalyptus bool) []error {
	var errs []error
	if register {
		if r.AMIName == "" {
			errs = append(errs, errors.New("ami_name is required"))
		} else if !amiName.MatchString(r.AMIName) {
			errs = append(errs, fmt.Errorf("ami_name %q: 3 to 128 letters, digits and ()[] ./-'@_", r.AMIName))
		}
	}
	if r.BootMode != "" && !bootModes[r.BootMode] {
		errs = append(errs, fmt.Errorf("boot_mode %q: want legacy-bios, uefi or uefi-preferred", r.BootMode))
	}
	switch r.VolumeType {
	case "":
		r.VolumeType = "gp3"
		if eucalyptus {
			r.VolumeType = "standard"
		}
	case "gp2", "gp3", "io1", "io2", "st1", "sc1", "standard":
	default:
		errs = append(errs, fmt.Errorf("volume_type %q: want gp3, gp2, io1, io2, st1, sc1 or standard", r.VolumeType))
	}
	if r.IMDSSupport != "" && r.IMDSSupport != "v2.0" {
		errs = append(errs, fmt.Errorf("imds_support %q: the only value is v2.0", r.IMDSSupport))
	}
	if eucalyptus {
		// Eucalyptus 4.x (EC2 API 2016-09-15) rejects these parameters.
		for field, set := range map[string]bool{"boot_mode": r.BootMode != "", "ena_support": r.ENASupport != nil, "imds_support": r.IMDSSupport != ""} {
			if set {
				errs = append(errs, fmt.Errorf("%s is not supported by Eucalyptus (EC2 API 2016-09-15)", field))
			}
		}
	}
	if r.SnapshotTags == nil {
		r.SnapshotTags = r.Tags
	}
	if eucalyptus && r.EBSConcurrency != 0 {
		errs = append(errs, errors.New("ebs_concurrency is for the EBS direct API, which Eucalyptus does not have"))
	}
	if r.EBSConcurrency == 0 {
		r.EBSConcurrency = 16
	} else if r.EBSConcurrency < 1 || r.EBSConcurrency > 1000 {
		errs = append(errs, fmt.Errorf("ebs_concurrency %d: want 1 to 1000", r.EBSConcurrency))
	}
	if r.StateTimeout == 0 {
		r.StateTimeout = 30 * time.Minute
	} else if r.StateTimeout < 0 {
		errs = append(errs, errors.New("state_timeout must be positive"))
	}
	return errs
}

// EucalyptusConfig holds what the Eucalyptus paths need: the keys bundles are opened, signed
// and encrypted with, and where bundles and import parts are stored. The `eucalyptus { ... }`
// block is what makes a build or an import go the Eucalyptus way; with it, empty fields (and
// the endpoints and keys) default from a sourced eucarc (`EC2_URL`, `S3_URL`,
// `EC2_ACCESS_KEY`, `EC2_SECRET_KEY`, `EC2_CERT`, `EC2_PRIVATE_KEY`, `EUCALYPTUS_CERT`,
// `EC2_ACCOUNT_NUMBER`/`EC2_USER_ID`): the template first, then those variables, then the
// AWS sources.
type EucalyptusConfig struct {
	// The user's private key (PEM, euca2ools' `EC2_PRIVATE_KEY`): opens bundles made for the
	// user (BundleInstance, euca-bundle-image) and signs new bundles. Defaults to
	// `EC2_PRIVATE_KEY`.
	UserPrivateKeyFile string `mapstructure:"user_private_key_file" required:"false"`
	// The user's X.509 certificate (PEM, `EC2_CERT`), registered with the cloud: new bundles
	// are encrypted to it too, and the manifests the user signed are checked with it.
	// Defaults to `EC2_CERT`.
	UserCertFile string `mapstructure:"user_cert_file" required:"false"`
	// The cloud's certificate (PEM, `EUCALYPTUS_CERT`, `cloud-cert.pem` of the credentials
	// zip): new bundles are encrypted to it, and BundleInstance manifests, signed by the cloud,
	// are checked with it. Defaults to `EUCALYPTUS_CERT`, else to the certificate the cloud's
	// bootstrap service gives (DescribeServiceCertificates at …/services/Empyrean), as
	// euca2ools does.
	CloudCertFile string `mapstructure:"cloud_cert_file" required:"false"`
	// The cloud's private key (`cloud-pk.pem`, cloud administrators only): opens any bundle
	// of the cloud, when the user's key cannot.
	CloudPrivateKeyFile string `mapstructure:"cloud_private_key_file" required:"false"`
	// The bucket for BundleInstance output, new bundles and ImportVolume parts. Created when
	// missing.
	Bucket string `mapstructure:"bucket" required:"false"`
	// How the new image is registered: `bundle` (the default: an instance-store bundle is
	// uploaded and registered with RegisterImage(ImageLocation)) or `import-volume`
	// (ImportVolume through the Imaging Service, CreateSnapshot, RegisterImage of an
	// EBS-backed HVM image).
	Register string `mapstructure:"register" required:"false"`
	// The availability zone (cluster, e.g. `PARTI00`) of the imported volume. Required with
	// `register = "import-volume"`.
	AvailabilityZone string `mapstructure:"availability_zone" required:"false"`
	// The owner account id written in new bundle manifests. Defaults to `EC2_ACCOUNT_NUMBER`
	// or `EC2_USER_ID` (a sourced eucarc), else `000000000000` (Eucalyptus takes the owner
	// from the credentials).
	AccountID string `mapstructure:"account_id" required:"false"`

	keys cloud.BundleKeys
	// fromEnv names the eucarc variable of each field ApplyEucarc filled.
	fromEnv map[string]string
}

// Prepare loads the keys and certificates and checks that what the build needs is there:
// read for a build that downloads a bundle, write for one that registers an image.
func (e *EucalyptusConfig) Prepare(read, write bool) []error {
	var errs []error
	load := func(field, path string, f func(string) error) {
		if path == "" {
			return
		}
		if v := e.fromEnv[field]; v != "" {
			field += " (from $" + v + ")"
		}
		if _, err := os.Stat(path); err != nil {
			errs = append(errs, fmt.Errorf("eucalyptus.%s: %w", field, err))
			return
		}
		if err := f(path); err != nil {
			errs = append(errs, fmt.Errorf("eucalyptus.%s %s: %w", field, path, err))
		}
	}
	load("user_private_key_file", e.UserPrivateKeyFile, func(p string) (err error) { e.keys.UserKey, err = bundle.LoadPrivateKey(p); return })
	load("cloud_private_key_file", e.CloudPrivateKeyFile, func(p string) (err error) { e.keys.CloudKey, err = bundle.LoadPrivateKey(p); return })
	load("user_cert_file", e.UserCertFile, func(p string) (err error) { e.keys.UserCert, err = bundle.LoadCertificate(p); return })
	load("cloud_cert_file", e.CloudCertFile, func(p string) (err error) { e.keys.CloudCert, err = bundle.LoadCertificate(p); return })
	if e.keys.UserKey != nil && e.keys.UserCert != nil && !e.keys.UserKey.PublicKey.Equal(e.keys.UserCert.PublicKey) {
		errs = append(errs, errors.New("eucalyptus.user_private_key_file is not the key of eucalyptus.user_cert_file"))
	}
	if e.keys.CloudKey != nil && e.keys.CloudCert != nil && !e.keys.CloudKey.PublicKey.Equal(e.keys.CloudCert.PublicKey) {
		errs = append(errs, errors.New("eucalyptus.cloud_private_key_file is not the key of eucalyptus.cloud_cert_file"))
	}
	switch e.Register {
	case "":
		e.Register = "bundle"
	case "bundle", "import-volume":
	default:
		errs = append(errs, fmt.Errorf("eucalyptus.register %q: want bundle or import-volume", e.Register))
	}
	if e.AccountID == "" {
		e.AccountID = "000000000000"
	}
	if read {
		errs = append(errs, e.ReadErrors()...)
	} else if write && e.Bucket == "" {
		errs = append(errs, errors.New("eucalyptus.bucket is required"))
	}
	if write && e.Register == "bundle" {
		for field, v := range map[string]string{"user_private_key_file": e.UserPrivateKeyFile, "user_cert_file": e.UserCertFile} {
			if v == "" {
				errs = append(errs, fmt.Errorf("eucalyptus.%s is required to bundle the new image (register = \"bundle\")", field))
			}
		}
	}
	if write && e.Register == "import-volume" && e.AvailabilityZone == "" {
		errs = append(errs, errors.New("eucalyptus.availability_zone is required with register = \"import-volume\""))
	}
	return errs
}

// ReadErrors lists what is missing to bring a bundle home (capture_method bundle).
func (e *EucalyptusConfig) ReadErrors() []error {
	var errs []error
	if e.Bucket == "" {
		errs = append(errs, errors.New("eucalyptus.bucket is required"))
	}
	if e.UserPrivateKeyFile == "" && e.CloudPrivateKeyFile == "" {
		errs = append(errs, errors.New("eucalyptus.user_private_key_file (or cloud_private_key_file) is required to open the source bundle"))
	}
	return errs
}

// Resolve completes the keys at run time: without cloud_cert_file, the cloud's certificate
// is fetched from its bootstrap service (DescribeServiceCertificates).
func (e *EucalyptusConfig) Resolve(ctx context.Context, cl *cloud.Clients, ec2Endpoint string) error {
	if e.keys.CloudCert != nil {
		return nil
	}
	c, err := cloud.FetchCloudCertificate(ctx, cl, ec2Endpoint)
	if err != nil {
		return fmt.Errorf("eucalyptus.cloud_cert_file is not set and the cloud's certificate could not be fetched: %w", err)
	}
	e.keys.CloudCert = c
	return nil
}

// Keys are the loaded keys and certificates.
func (e *EucalyptusConfig) Keys() cloud.BundleKeys { return e.keys }

// PublishOptions completes o with what the block says: how to register, the bucket, the zone,
// the manifest owner and the keys.
func (e *EucalyptusConfig) PublishOptions(o cloud.EucaPublishOptions) cloud.EucaPublishOptions {
	o.Register, o.Bucket, o.AvailabilityZone, o.AccountID, o.Keys = e.Register, e.Bucket, e.AvailabilityZone, e.AccountID, e.keys
	return o
}
