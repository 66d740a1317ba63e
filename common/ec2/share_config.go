//go:generate packer-sdc struct-markdown
//go:generate packer-sdc mapstructure-to-hcl2 -type ShareConfig

package ec2common

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"time"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
)

// ShareConfig says who may use the new image and in which other regions it is copied, with
// the names and meaning of packer-plugin-amazon's. The launch permissions and snapshot
// permissions are added to the new AMI and its snapshot after registration, and to every
// regional copy. It is shared by the chromogenic-ec2 builder and the chromogenic-ec2-import
// post-processor.
type ShareConfig struct {
	// Account IDs (12 digits) that may launch the new AMI (EMI on Eucalyptus). The AMI stays
	// owned by this account.
	AMIUsers []string `mapstructure:"ami_users" required:"false"`
	// Groups that may launch the new AMI: the only group is `all`, which makes it public.
	AMIGroups []string `mapstructure:"ami_groups" required:"false"`
	// ARNs of AWS Organizations whose accounts may launch the new AMI. Not on Eucalyptus.
	AMIOrgArns []string `mapstructure:"ami_org_arns" required:"false"`
	// ARNs of organizational units whose accounts may launch the new AMI. Not on Eucalyptus.
	AMIOuArns []string `mapstructure:"ami_ou_arns" required:"false"`
	// Account IDs that may create volumes from the new AMI's snapshots. Not with
	// instance-store EMIs (Eucalyptus `register = "bundle"`), which have no snapshot.
	SnapshotUsers []string `mapstructure:"snapshot_users" required:"false"`
	// Groups that may create volumes from the new AMI's snapshots: only `all`.
	SnapshotGroups []string `mapstructure:"snapshot_groups" required:"false"`
	// Regions the new AMI is copied to (CopyImage) once it is available. Each copy is waited
	// for, tagged with `tags` and `snapshot_tags` and shared as the AMI is; the artifact
	// lists every region's AMI. The build's own region is dropped from the list. Not on
	// Eucalyptus.
	AMIRegions []string `mapstructure:"ami_regions" required:"false"`
	// KMS keys (ID, ARN or alias) of the copies, by region: a region named here gets an
	// encrypted copy with its key. A copy of an encrypted AMI is encrypted whatever this map
	// says, with the region's default EBS key when the region is not in it. Every region
	// must be in `ami_regions`.
	RegionKMSKeyIDs map[string]string `mapstructure:"region_kms_key_ids" required:"false"`
}

var (
	awsAccountID = regexp.MustCompile(`^\d{12}$`)
	orgARN       = regexp.MustCompile(`^arn:aws[a-z-]*:organizations::\d{12}:organization/o-[a-z0-9]{10,32}$`)
	ouARN        = regexp.MustCompile(`^arn:aws[a-z-]*:organizations::\d{12}:ou/o-[a-z0-9]{10,32}/ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}$`)
	regionName   = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)
)

// Prepare validates the lists and drops region, the build's, from ami_regions (and
// duplicates). eucalyptus says the cloud is Eucalyptus; snapshot that the new image has
// snapshots (false for instance-store EMIs); skipRegionValidation allows region names of
// any shape. Every error names its field.
func (s *ShareConfig) Prepare(region string, eucalyptus, snapshot, skipRegionValidation bool) []error {
	var errs []error
	check := func(field string, values []string, ok func(string) bool, want string) {
		for _, v := range values {
			if !ok(v) {
				errs = append(errs, fmt.Errorf("%s: %q is not %s", field, v, want))
			}
		}
	}
	all := func(v string) bool { return v == "all" }
	check("ami_users", s.AMIUsers, awsAccountID.MatchString, "an account ID (12 digits)")
	check("snapshot_users", s.SnapshotUsers, awsAccountID.MatchString, "an account ID (12 digits)")
	check("ami_groups", s.AMIGroups, all, `a group: the only group is "all"`)
	check("snapshot_groups", s.SnapshotGroups, all, `a group: the only group is "all"`)
	check("ami_org_arns", s.AMIOrgArns, orgARN.MatchString, "an organization ARN (arn:aws:organizations::<account>:organization/o-<id>)")
	check("ami_ou_arns", s.AMIOuArns, ouARN.MatchString, "an organizational unit ARN (arn:aws:organizations::<account>:ou/o-<id>/ou-<id>)")
	if !skipRegionValidation {
		check("ami_regions", s.AMIRegions, regionName.MatchString, "a region name such as eu-west-1 (skip_region_validation allows any)")
	}
	var regions []string
	for _, r := range s.AMIRegions {
		if r != region && !slices.Contains(regions, r) {
			regions = append(regions, r)
		}
	}
	s.AMIRegions = regions
	for _, r := range slices.Sorted(maps.Keys(s.RegionKMSKeyIDs)) {
		if !slices.Contains(regions, r) {
			errs = append(errs, fmt.Errorf("region_kms_key_ids: %q is not in ami_regions (the build region's key is kms_key_id)", r))
		}
		if s.RegionKMSKeyIDs[r] == "" {
			errs = append(errs, fmt.Errorf("region_kms_key_ids: the key of %q is empty", r))
		}
	}
	if eucalyptus {
		for field, set := range map[string]bool{"ami_org_arns": len(s.AMIOrgArns) > 0, "ami_ou_arns": len(s.AMIOuArns) > 0,
			"ami_regions": len(s.AMIRegions) > 0, "region_kms_key_ids": len(s.RegionKMSKeyIDs) > 0} {
			if set {
				errs = append(errs, fmt.Errorf("%s is not supported by Eucalyptus (one region, EC2 API 2016-09-15)", field))
			}
		}
	}
	if !snapshot && len(s.SnapshotUsers)+len(s.SnapshotGroups) > 0 {
		errs = append(errs, errors.New(`snapshot_users and snapshot_groups: an instance-store EMI (eucalyptus register = "bundle") has no snapshot; use register = "import-volume" or remove them`))
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errs
}

// Share is the adapter's form of the permissions.
func (s *ShareConfig) Share() cloud.Share {
	return cloud.Share{Users: s.AMIUsers, Groups: s.AMIGroups, OrgARNs: s.AMIOrgArns, OUARNs: s.AMIOuArns,
		SnapshotUsers: s.SnapshotUsers, SnapshotGroups: s.SnapshotGroups}
}

// Set tells whether anything is shared or copied.
func (s *ShareConfig) Set() bool { return !s.Share().Empty() || len(s.AMIRegions) > 0 }

// CopyOptions are the options of the copy into region of an image named name: the same
// tags and permissions, encrypted when the source is (encrypted) or the region has a key in
// region_kms_key_ids.
func (s *ShareConfig) CopyOptions(region, name, description string, tags, snapshotTags map[string]string, encrypted bool, timeout time.Duration) cloud.CopyOptions {
	key := s.RegionKMSKeyIDs[region]
	return cloud.CopyOptions{Name: name, Description: description, Tags: tags, SnapshotTags: snapshotTags,
		Encrypted: encrypted || key != "", KMSKeyID: key, Share: s.Share(), Timeout: timeout}
}
