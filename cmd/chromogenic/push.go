package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	openstackcommon "github.com/chromogenic/packer-plugin-chromogenic/common/openstack"
	ec2cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2/bundle"
	oscloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/transfer"
)

const pushUsage = `usage: chromogenic push --to openstack|aws|eucalyptus IMAGE [--name NAME] [options]

Uploads the local disk image IMAGE (any format the image engine reads; an OVA's disk) as a
new cloud image and prints its id on stdout. On failure nothing it made is left behind.
The same publishing code as chromogenic-openstack-import and chromogenic-ec2-import.

  --to CLOUD        openstack (a Glance image), aws (an EBS snapshot through the EBS direct
                    API, registered as an AMI) or eucalyptus (an EMI: a bundle or ImportVolume)
  --name NAME       the new image's name (default: IMAGE's file name without extension)
  -f FORMAT         IMAGE's format (default: detected)
  --timeout D       how long to wait for the cloud (default 30m)
  --json            print {"id", "name", "cloud", ...} instead of the id alone
  --progress        show progress on stderr
  --record PATH     where the push's provenance record goes (default IMAGE.push-CLOUD.provenance.json
                    beside IMAGE, replaced by the next push of IMAGE to CLOUD): the record
                    beside IMAGE (IMAGE.provenance.json, checked against IMAGE) carried over,
                    the image (and snapshot) made; aws: the block map of the disk pushed, so
                    that the record can be chromogenic-ec2-import's base_provenance
  --provenance=false  write no record (and do not read IMAGE's)

  openstack: credentials from clouds.yaml (--os-cloud NAME, default $OS_CLOUD;
  $OS_CLIENT_CONFIG_FILE) or the OS_* environment (an openrc file)
  --os-cloud NAME, --os-region R
  --format F        the Glance disk_format (default: IMAGE's own format; ova: vmdk)
  --visibility V    private (default), shared, community or public
  --tag T           an image tag (repeatable)
  --property K=V    an image property (repeatable)
  --import-method M glance-direct or the plain upload (default)

  aws, eucalyptus: credentials from the AWS_* environment, shared config/credentials files
  (--profile P)
  --region R, --endpoint URL (EC2; the Eucalyptus compute service), --ebs-endpoint URL,
  --s3-endpoint URL, --insecure
  --description D, --tag K=V (repeatable), --architecture A, --root-device DEV,
  --volume-type T
  aws: --boot-mode legacy-bios|uefi|uefi-preferred, --ena, --imds-support v2.0,
       --concurrency N (EBS direct blocks in flight, default 16)
  eucalyptus: --register bundle|import-volume (default bundle), --bucket B (required),
       --zone Z (import-volume), --user-key FILE and --user-cert FILE (bundle; default
       $EC2_PRIVATE_KEY, $EC2_CERT), --cloud-cert FILE (default $EUCALYPTUS_CERT, else
       fetched from the cloud), --account-id ID (default $EC2_ACCOUNT_NUMBER, $EC2_USER_ID),
       --s3-sigv2, --kernel-id EKI [--ramdisk-id ERI] (a paravirtual EMI booting with
       them; default HVM)
       The eucarc variables fill what the flags leave empty: --endpoint $EC2_URL,
       --s3-endpoint $S3_URL, and the keys $EC2_ACCESS_KEY and $EC2_SECRET_KEY (both set,
       no --profile), which come before the AWS_* credentials
`

// pushScope: the flags of one cloud only.
var pushScope = map[string][]string{
	"os-cloud": {"openstack"}, "os-region": {"openstack"}, "format": {"openstack"}, "visibility": {"openstack"},
	"property": {"openstack"}, "import-method": {"openstack"},
	"region": {"aws", "eucalyptus"}, "profile": {"aws", "eucalyptus"}, "endpoint": {"aws", "eucalyptus"},
	"ebs-endpoint": {"aws"}, "s3-endpoint": {"aws", "eucalyptus"}, "insecure": {"aws", "eucalyptus"},
	"s3-sigv2": {"eucalyptus"}, "description": {"aws", "eucalyptus"}, "architecture": {"aws", "eucalyptus"},
	"root-device": {"aws", "eucalyptus"}, "volume-type": {"aws", "eucalyptus"},
	"boot-mode": {"aws"}, "ena": {"aws"}, "imds-support": {"aws"}, "concurrency": {"aws"},
	"register": {"eucalyptus"}, "bucket": {"eucalyptus"}, "zone": {"eucalyptus"}, "user-key": {"eucalyptus"},
	"user-cert": {"eucalyptus"}, "cloud-cert": {"eucalyptus"}, "account-id": {"eucalyptus"},
	"kernel-id": {"eucalyptus"}, "ramdisk-id": {"eucalyptus"},
}

type pushConfig struct {
	to, name, inFormat string
	timeout            time.Duration
	asJSON, progress   bool
	record             bool
	recordPath         string
	os                 osFlags
	diskFormat         string
	visibility         string
	osTags             strList
	properties         keyValues
	importMethod       string
	aws                awsFlags
	description        string
	tags               keyValues
	arch, rootDevice   string
	volumeType         string
	bootMode, imds     string
	ena                bool
	concurrency        int
	register, bucket   string
	zone, accountID    string
	userKey, userCert  string
	cloudCert          string
	// kernelID and ramdiskID make the EMI paravirtual (--kernel-id, --ramdisk-id).
	kernelID, ramdiskID string
	// accessKey and secretKey come from the eucarc variables (applyEucarc).
	accessKey, secretKey string
	image                string
}

var (
	eucaKernelID  = regexp.MustCompile(`^[ea]ki-[0-9a-zA-Z]{1,32}$`)
	eucaRamdiskID = regexp.MustCompile(`^[ea]ri-[0-9a-zA-Z]{1,32}$`)
)

// boot is how the new EMI boots: paravirtual with --kernel-id (and --ramdisk-id), else HVM.
func (c *pushConfig) boot() ec2cloud.EucaBoot {
	if c.kernelID == "" {
		return ec2cloud.EucaBoot{VirtualizationType: "hvm"}
	}
	return ec2cloud.EucaBoot{VirtualizationType: "paravirtual", KernelID: c.kernelID, RamdiskID: c.ramdiskID}
}

// applyEucarc fills what the flags leave empty from the eucarc environment, as the
// chromogenic-ec2 builder's eucalyptus block does (common/ec2.ApplyEucarc): --endpoint <-
// EC2_URL, --s3-endpoint <- S3_URL, the keys <- EC2_ACCESS_KEY and EC2_SECRET_KEY (both set,
// and no --profile; before the AWS_* sources), --user-cert <- EC2_CERT, --user-key <-
// EC2_PRIVATE_KEY, --cloud-cert <- EUCALYPTUS_CERT, --account-id <- EC2_ACCOUNT_NUMBER or
// EC2_USER_ID (else 000000000000). Only for --to eucalyptus.
func (c *pushConfig) applyEucarc(env ec2cloud.Eucarc) {
	for _, f := range []struct {
		dst *string
		v   string
	}{
		{&c.aws.endpoint, env.EC2URL}, {&c.aws.s3Endpoint, env.S3URL}, {&c.userCert, env.Cert},
		{&c.userKey, env.PrivateKey}, {&c.cloudCert, env.CloudCert}, {&c.accountID, env.AccountID},
	} {
		if *f.dst == "" {
			*f.dst = f.v
		}
	}
	if c.aws.profile == "" {
		c.accessKey, c.secretKey = env.Credentials()
	}
	if c.accountID == "" {
		c.accountID = "000000000000"
	}
}

func parsePush(args []string) (*pushConfig, bool, error) {
	c := &pushConfig{properties: keyValues{}, tags: keyValues{}}
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.to, "to", "", "")
	fs.StringVar(&c.name, "name", "", "")
	fs.StringVar(&c.inFormat, "f", "", "")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Minute, "")
	fs.BoolVar(&c.asJSON, "json", false, "")
	fs.BoolVar(&c.progress, "progress", false, "")
	fs.BoolVar(&c.record, "provenance", true, "")
	fs.StringVar(&c.recordPath, "record", "", "")
	c.os.register(fs)
	fs.StringVar(&c.diskFormat, "format", "", "")
	fs.StringVar(&c.visibility, "visibility", "private", "")
	var tags strList
	fs.Var(&tags, "tag", "")
	fs.Var(c.properties, "property", "")
	fs.StringVar(&c.importMethod, "import-method", "", "")
	c.aws.register(fs)
	fs.StringVar(&c.description, "description", "", "")
	fs.StringVar(&c.arch, "architecture", "", "")
	fs.StringVar(&c.rootDevice, "root-device", "", "")
	fs.StringVar(&c.volumeType, "volume-type", "", "")
	fs.StringVar(&c.bootMode, "boot-mode", "", "")
	fs.StringVar(&c.imds, "imds-support", "", "")
	fs.BoolVar(&c.ena, "ena", false, "")
	fs.IntVar(&c.concurrency, "concurrency", 16, "")
	fs.StringVar(&c.register, "register", "bundle", "")
	fs.StringVar(&c.bucket, "bucket", "", "")
	fs.StringVar(&c.zone, "zone", "", "")
	fs.StringVar(&c.accountID, "account-id", "", "")
	fs.StringVar(&c.userKey, "user-key", "", "")
	fs.StringVar(&c.userCert, "user-cert", "", "")
	fs.StringVar(&c.cloudCert, "cloud-cert", "", "")
	fs.StringVar(&c.kernelID, "kernel-id", "", "")
	fs.StringVar(&c.ramdiskID, "ramdisk-id", "", "")
	pos, help, err := parseCloudArgs(fs, args, "push", "--to", &c.to, []string{"openstack", "aws", "eucalyptus"}, pushScope)
	if err != nil || help {
		return nil, help, err
	}
	if c.to == "eucalyptus" {
		c.applyEucarc(ec2cloud.ReadEucarc(nil))
	}
	if len(pos) != 1 {
		return nil, false, usageError{errors.New("push needs one IMAGE")}
	}
	c.image = pos[0]
	if c.name == "" {
		base := filepath.Base(c.image)
		c.name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	if err := checkLimits(c.timeout, c.concurrency); err != nil {
		return nil, false, err
	}
	switch c.to {
	case "openstack":
		c.osTags = tags
		if c.diskFormat != "" {
			if _, err := diskimage.LookupWriter(c.diskFormat); err != nil {
				return nil, false, usageError{fmt.Errorf("--format: %w", err)}
			}
		}
		switch c.visibility {
		case "private", "shared", "community", "public":
		default:
			return nil, false, usageError{fmt.Errorf("--visibility %q: want private, shared, community or public", c.visibility)}
		}
		switch c.importMethod {
		case "", oscloud.MethodUpload, oscloud.MethodGlanceDirect:
		default:
			return nil, false, usageError{fmt.Errorf("--import-method %q: want %s or %s", c.importMethod, oscloud.MethodUpload, oscloud.MethodGlanceDirect)}
		}
	default:
		for _, t := range tags {
			if err := c.tags.Set(t); err != nil {
				return nil, false, usageError{fmt.Errorf("--tag: %w", err)}
			}
		}
		if c.to == "eucalyptus" {
			if c.bucket == "" {
				return nil, false, usageError{errors.New("--to eucalyptus needs --bucket")}
			}
			if c.kernelID != "" && !eucaKernelID.MatchString(c.kernelID) {
				return nil, false, usageError{fmt.Errorf("--kernel-id %q: want a kernel image id, eki-… (or aki-…)", c.kernelID)}
			}
			if c.ramdiskID != "" && (c.kernelID == "" || !eucaRamdiskID.MatchString(c.ramdiskID)) {
				return nil, false, usageError{fmt.Errorf("--ramdisk-id %q: want a ramdisk image id, eri-… (or ari-…), with --kernel-id", c.ramdiskID)}
			}
			switch c.register {
			case "bundle":
				if c.userKey == "" || c.userCert == "" {
					return nil, false, usageError{errors.New("--register bundle needs --user-key and --user-cert (or $EC2_PRIVATE_KEY and $EC2_CERT)")}
				}
			case "import-volume":
				if c.zone == "" {
					return nil, false, usageError{errors.New("--register import-volume needs --zone")}
				}
			default:
				return nil, false, usageError{fmt.Errorf("--register %q: want bundle or import-volume", c.register)}
			}
		}
	}
	if _, err := os.Stat(c.image); err != nil {
		return nil, false, fmt.Errorf("IMAGE: %w", err)
	}
	if err := c.checkRecord(); err != nil {
		return nil, false, err
	}
	return c, false, nil
}

// checkRecord settles where the push's record goes (--record, else beside IMAGE), before
// anything is pushed: a directory that exists, and not IMAGE or IMAGE's own record.
func (c *pushConfig) checkRecord() error {
	if !c.record {
		if c.recordPath != "" {
			return usageError{errors.New("--record and --provenance=false exclude each other")}
		}
		return nil
	}
	if c.recordPath == "" {
		c.recordPath = c.image + ".push-" + c.to + provenance.Suffix
	}
	abs, err := filepath.Abs(c.recordPath)
	if err != nil {
		return err
	}
	img, _ := filepath.Abs(c.image)
	if abs == img || abs == provenance.SidecarPath(img) {
		return usageError{fmt.Errorf("--record %s is IMAGE or IMAGE's own record: name another file", c.recordPath)}
	}
	if fi, err := os.Stat(filepath.Dir(abs)); err != nil || !fi.IsDir() {
		return usageError{fmt.Errorf("--record %s: its directory does not exist", c.recordPath)}
	}
	if fi, err := os.Stat(abs); err == nil && fi.IsDir() {
		return usageError{fmt.Errorf("--record %s is a directory: name a file", c.recordPath)}
	}
	c.recordPath = abs
	return nil
}

func pushCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, help, err := parsePush(args)
	if err != nil {
		return err
	}
	if help {
		fmt.Fprint(stdout, pushUsage)
		return nil
	}
	// The record starts from IMAGE's own, which must still describe it (as convert's).
	var rec *provenance.Record
	if c.record {
		inRec, inRecPath, inRecSHA, err := provenance.Beside(ctx, c.image)
		if err != nil {
			return fmt.Errorf("%w (--provenance=false pushes without a record)", err)
		}
		rec = provenance.FromFile(producerPush, inRec, inRecPath, inRecSHA, c.image)
	}
	// The image as it is stored, or the one disk of an appliance read in place.
	asIs := true
	img, err := diskimage.OpenFormat(c.image, c.inFormat)
	if ce := (*diskimage.ContainerError)(nil); errors.As(err, &ce) {
		asIs = false
		img, err = diskimage.OpenDisk(c.image, c.inFormat)
	}
	if err != nil {
		return err
	}
	defer img.Close()
	rep := newReporter(stderr, c.progress)
	res := map[string]any{"cloud": c.to, "name": c.name, "source": c.image}
	pushed := &provenance.Record{}
	switch c.to {
	case "openstack":
		err = pushOpenStack(ctx, c, img, asIs, rep, res, pushed)
	case "aws":
		err = pushAWS(ctx, c, img, rep, res, pushed)
	case "eucalyptus":
		err = pushEucalyptus(ctx, c, img, rep, res, pushed)
	}
	if err != nil {
		return err
	}
	if rec != nil {
		if err = writePushRecord(rec, pushed, c.image, img.Format(), c.recordPath); err != nil {
			// The image is published: it stays, its id is printed, and the error says what is missing.
			err = fmt.Errorf("%s %v is published, but its provenance record: %w", c.to, res["id"], err)
		} else {
			res["provenance"] = c.recordPath
			rep.message("Provenance record written: " + c.recordPath)
		}
	}
	if perr := printResult(stdout, res, "id", c.asJSON); err == nil {
		err = perr
	}
	return err
}

func pushOpenStack(ctx context.Context, c *pushConfig, img diskimage.Image, asIs bool, rep *reporter, res map[string]any, pushed *provenance.Record) error {
	format := c.diskFormat
	if format == "" {
		format = img.Format()
	}
	source := &transfer.Source{Image: img}
	if asIs {
		source.AsIsFormat = img.Format()
		source.AsIs = func() (io.ReadCloser, error) { return os.Open(c.image) }
	}
	rep.say("Connecting to OpenStack...")
	cl, err := oscloud.Connect(ctx, c.os.auth())
	if err != nil {
		return err
	}
	rep.say(fmt.Sprintf("Uploading %s as image %q (%s, %s)...", c.image, c.name, format, c.visibility))
	out, err := oscloud.UploadImage(ctx, cl.Image, oscloud.UploadInput{
		Image: oscloud.NewImage{Name: c.name, DiskFormat: format, Visibility: c.visibility, Tags: c.osTags,
			Properties: c.properties},
		Method: c.importMethod, Source: source,
		Encode:  transfer.Options{SpoolDir: filepath.Dir(c.image), Say: rep.message},
		Timeout: c.timeout, TimeoutName: "--timeout",
		Progress: rep.progress, Status: rep.message,
	})
	if err != nil {
		return err
	}
	rep.say(fmt.Sprintf("Image %s (%s) is active", out.Name, out.ID))
	res["id"], res["disk_format"], res["visibility"] = out.ID, out.DiskFormat, string(out.Visibility)
	cloudName := c.os.cloud
	if cloudName == "" {
		cloudName = os.Getenv("OS_CLOUD")
	}
	pushed.Outputs = append(pushed.Outputs, openstackcommon.ProvenanceOutput(cloudName, c.os.region, out))
	return nil
}

func pushAWS(ctx context.Context, c *pushConfig, img diskimage.Image, rep *reporter, res map[string]any, pushed *provenance.Record) error {
	rep.say("Connecting to EC2...")
	cl, err := ec2cloud.Connect(ctx, c.aws.access(false, c.concurrency+8))
	if err != nil {
		return err
	}
	var ena *bool
	if c.ena {
		ena = &c.ena
	}
	out, err := ec2cloud.Publish(ctx, cl, img, c.image, ec2cloud.PublishOptions{
		Name: c.name, Description: c.description, Tags: c.tags, SnapshotTags: c.tags,
		Architecture: c.arch, BootMode: c.bootMode, ENA: ena, RootDeviceName: c.rootDevice,
		VolumeType: c.volumeType, IMDSSupport: c.imds, Concurrency: c.concurrency,
		StateTimeout: c.timeout, Report: rep.ec2Report(),
	})
	if err != nil {
		return err
	}
	res["id"], res["snapshot_id"], res["region"] = out.ImageID, out.SnapshotID, cl.Region
	pushed.WorkingCopy = out.Map
	pushed.Outputs = append(pushed.Outputs,
		provenance.Output{Cloud: "aws", Region: cl.Region, Kind: "snapshot", ID: out.SnapshotID, Size: img.Size()},
		provenance.Output{Cloud: "aws", Region: cl.Region, Kind: "image", ID: out.ImageID})
	return nil
}

func pushEucalyptus(ctx context.Context, c *pushConfig, img diskimage.Image, rep *reporter, res map[string]any, pushed *provenance.Record) error {
	var keys ec2cloud.BundleKeys
	var err error
	if c.register == "bundle" {
		if keys.UserKey, err = bundle.LoadPrivateKey(c.userKey); err != nil {
			return fmt.Errorf("--user-key %s: %w", c.userKey, err)
		}
		if keys.UserCert, err = bundle.LoadCertificate(c.userCert); err != nil {
			return fmt.Errorf("--user-cert %s: %w", c.userCert, err)
		}
		if !keys.UserKey.PublicKey.Equal(keys.UserCert.PublicKey) {
			return fmt.Errorf("--user-key %s is not the key of --user-cert %s", c.userKey, c.userCert)
		}
		if c.cloudCert != "" {
			if keys.CloudCert, err = bundle.LoadCertificate(c.cloudCert); err != nil {
				return fmt.Errorf("--cloud-cert %s: %w", c.cloudCert, err)
			}
		}
	}
	rep.say("Connecting to Eucalyptus...")
	acc := c.aws.access(true, 0)
	acc.AccessKey, acc.SecretKey = c.accessKey, c.secretKey
	cl, err := ec2cloud.Connect(ctx, acc)
	if err != nil {
		return err
	}
	if c.register == "bundle" && keys.CloudCert == nil {
		if keys.CloudCert, err = ec2cloud.FetchCloudCertificate(ctx, cl, c.aws.endpoint); err != nil {
			return fmt.Errorf("no --cloud-cert and the cloud's certificate could not be fetched: %w", err)
		}
	}
	out, err := ec2cloud.PublishEucalyptus(ctx, cl, img, c.image, ec2cloud.EucaPublishOptions{
		Name: c.name, Description: c.description, Tags: c.tags, SnapshotTags: c.tags,
		Architecture: c.arch, RootDeviceName: c.rootDevice, VolumeType: c.volumeType, StateTimeout: c.timeout,
		Register: c.register, Bucket: c.bucket, AvailabilityZone: c.zone, AccountID: c.accountID, Keys: keys,
		Boot: c.boot(), Report: rep.ec2Report(),
	})
	if err != nil {
		return err
	}
	res["id"], res["region"] = out.ImageID, cl.Region
	pushed.Outputs = append(pushed.Outputs, provenance.Output{Cloud: "eucalyptus", Region: cl.Region, Kind: "image", ID: out.ImageID})
	if out.SnapshotID != "" {
		res["snapshot_id"] = out.SnapshotID
		pushed.Outputs = append(pushed.Outputs, provenance.Output{Cloud: "eucalyptus", Region: cl.Region, Kind: "snapshot", ID: out.SnapshotID, Size: img.Size()})
	}
	if out.Bucket != "" {
		res["bucket"] = out.Bucket
	}
	return nil
}
