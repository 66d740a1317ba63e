//go:generate packer-sdc struct-markdown
//go:generate packer-sdc mapstructure-to-hcl2 -type AssumeRoleConfig

package ec2common

import (
	"fmt"
	"regexp"
	"time"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
)

// AssumeRoleConfig is the `assume_role` block, as packer-plugin-amazon's: the build works
// as this IAM role. The credentials of the access configuration (or the usual AWS sources)
// only call STS AssumeRole; every EC2, EBS and S3 call is then signed with the role's
// temporary credentials, renewed before they expire.
//
// HCL2 example:
//
// ```hcl
//
//	assume_role {
//	  role_arn     = "arn:aws:iam::123456789012:role/image-publisher"
//	  session_name = "packer-images"
//	  external_id  = "a-shared-secret"
//	}
//
// ```
type AssumeRoleConfig struct {
	// The ARN of the role to assume, such as `arn:aws:iam::123456789012:role/image-publisher`.
	// Required in the block.
	RoleARN string `mapstructure:"role_arn" required:"false"`
	// The session name the role's calls are logged under in CloudTrail (2 to 64 letters,
	// digits and `+=,.@-_`). Defaults to the SDK's `aws-go-sdk-<time>`.
	SessionName string `mapstructure:"session_name" required:"false"`
	// The external ID the role's trust policy asks for, if any.
	ExternalID string `mapstructure:"external_id" required:"false"`
	// How long the temporary credentials last, in seconds: 900 to 43200 (the role's
	// maximum session duration bounds it). Defaults to 900 (15 minutes); they are renewed
	// before they expire, so a long build needs no more.
	DurationSeconds int `mapstructure:"duration_seconds" required:"false"`
	// An IAM policy (JSON) that further restricts the session's permissions.
	Policy string `mapstructure:"policy" required:"false"`
	// ARNs of managed policies that further restrict the session's permissions.
	PolicyARNs []string `mapstructure:"policy_arns" required:"false"`
	// Session tags (attribute-based access control).
	Tags map[string]string `mapstructure:"tags" required:"false"`
	// Keys of `tags` that pass on to roles chained after this one.
	TransitiveTagKeys []string `mapstructure:"transitive_tag_keys" required:"false"`
}

var (
	iamRoleARN     = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$`)
	iamPolicyARN   = regexp.MustCompile(`^arn:aws[a-z-]*:iam::(\d{12}|aws):policy/[\w+=,.@/-]{1,512}$`)
	stsSessionName = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
)

// set tells whether the block says anything.
func (r *AssumeRoleConfig) set() bool {
	return r.RoleARN != "" || r.SessionName != "" || r.ExternalID != "" || r.DurationSeconds != 0 || r.Policy != "" ||
		len(r.PolicyARNs) > 0 || len(r.Tags) > 0 || len(r.TransitiveTagKeys) > 0
}

// Prepare validates the block; every error names its field.
func (r *AssumeRoleConfig) Prepare() []error {
	if !r.set() {
		return nil
	}
	var errs []error
	switch {
	case r.RoleARN == "":
		errs = append(errs, fmt.Errorf("assume_role.role_arn is required in an assume_role block"))
	case !iamRoleARN.MatchString(r.RoleARN):
		errs = append(errs, fmt.Errorf("assume_role.role_arn %q: want arn:aws:iam::<12-digit account>:role/<name>", r.RoleARN))
	}
	if r.SessionName != "" && !stsSessionName.MatchString(r.SessionName) {
		errs = append(errs, fmt.Errorf("assume_role.session_name %q: 2 to 64 letters, digits and +=,.@-_", r.SessionName))
	}
	if r.DurationSeconds != 0 && (r.DurationSeconds < 900 || r.DurationSeconds > 43200) {
		errs = append(errs, fmt.Errorf("assume_role.duration_seconds %d: want 900 to 43200", r.DurationSeconds))
	}
	for _, arn := range r.PolicyARNs {
		if !iamPolicyARN.MatchString(arn) {
			errs = append(errs, fmt.Errorf("assume_role.policy_arns: %q is not an IAM policy ARN (arn:aws:iam::<account or aws>:policy/<name>)", arn))
		}
	}
	for _, k := range r.TransitiveTagKeys {
		if _, ok := r.Tags[k]; !ok {
			errs = append(errs, fmt.Errorf("assume_role.transitive_tag_keys: %q is not a key of assume_role.tags", k))
		}
	}
	return errs
}

// cloud is the adapter's form of the block, nil when it is empty.
func (r *AssumeRoleConfig) cloud() *cloud.AssumeRole {
	if r.RoleARN == "" {
		return nil
	}
	return &cloud.AssumeRole{RoleARN: r.RoleARN, SessionName: r.SessionName, ExternalID: r.ExternalID,
		Duration: time.Duration(r.DurationSeconds) * time.Second, Policy: r.Policy, PolicyARNs: r.PolicyARNs,
		Tags: r.Tags, TransitiveTagKeys: r.TransitiveTagKeys}
}
