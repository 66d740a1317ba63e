//go:generate packer-sdc struct-markdown
//go:generate packer-sdc mapstructure-to-hcl2 -type EncryptionConfig

package ec2common

import (
	"errors"
	"fmt"
	"regexp"
)

// EncryptionConfig holds the AMI options about encryption, replacing an AMI of the same name
// and the tags of what a build creates while it runs, with the names and meaning of
// packer-plugin-amazon's. It is shared by the chromogenic-ec2 builder and the
// chromogenic-ec2-import post-processor.
type EncryptionConfig struct {
	// Encrypt the new AMI's root snapshot: `true` encrypts it (with `kms_key_id`, else with
	// the account's default EBS key, whatever the source's), `false` writes it unencrypted. Unset, the new AMI is
	// encrypted when the builder's source is (its root volume or root snapshot), with the
	// source's key unless `kms_key_id` says otherwise, and unencrypted otherwise: an encrypted
	// source never silently becomes an unencrypted AMI; `encrypt_boot = false` with an
	// encrypted source must be said explicitly. Not on Eucalyptus, which has no EBS
	// encryption.
	EncryptBoot *bool `mapstructure:"encrypt_boot" required:"false"`
	// The KMS key that encrypts the new AMI's root snapshot, as a key ARN
	// (`arn:aws:kms:<region>:<account>:key/<id>`: the EBS direct API takes ARNs only).
	// Requires `encrypt_boot = true`. Defaults to the account's default EBS key.
	KMSKeyID string `mapstructure:"kms_key_id" required:"false"`
	// Before registering, deregister the AMI this account owns with the same `ami_name`.
	// Without it an AMI of that name is an error, found before any data moves. The build's
	// own source AMI is never deregistered (that is an error too), nor any AMI another
	// account owns.
	ForceDeregister bool `mapstructure:"force_deregister" required:"false"`
	// With `force_deregister`, delete the snapshots of the deregistered AMI as well.
	// Defaults to false: they are kept.
	ForceDeleteSnapshot bool `mapstructure:"force_delete_snapshot" required:"false"`
	// Tags of what the build creates while it runs and deletes afterwards, set at creation
	// (TagSpecifications), so that an account whose policy denies untagged creation works:
	// the intermediate AMI of an instance capture and its snapshots, and the volume of
	// `capture_method = "attach"` (on Eucalyptus set right after creation). They carry the
	// tag `chromogenic:build` too. Defaults to `tags` (the intermediate AMI's snapshots:
	// `snapshot_tags`).
	RunTags map[string]string `mapstructure:"run_tags" required:"false"`
}

var kmsKeyARN = regexp.MustCompile(`^arn:aws[\w-]*:kms:[\w-]+:[0-9]{12}:key/[\w-]+$`)

// Prepare validates; every error names its field. eucalyptus tells the cloud's dialect.
func (e *EncryptionConfig) Prepare(eucalyptus bool) []error {
	var errs []error
	if e.KMSKeyID != "" {
		if e.EncryptBoot == nil || !*e.EncryptBoot {
			errs = append(errs, errors.New("kms_key_id requires encrypt_boot = true"))
		}
		if !kmsKeyARN.MatchString(e.KMSKeyID) {
			errs = append(errs, fmt.Errorf("kms_key_id %q: want a key ARN, arn:aws:kms:<region>:<account>:key/<id> (the EBS direct API takes no key ids or aliases)", e.KMSKeyID))
		}
	}
	if eucalyptus && e.EncryptBoot != nil && *e.EncryptBoot {
		errs = append(errs, errors.New("encrypt_boot is not supported by Eucalyptus (no EBS encryption)"))
	}
	if e.ForceDeleteSnapshot && !e.ForceDeregister {
		errs = append(errs, errors.New("force_delete_snapshot applies with force_deregister = true only"))
	}
	return errs
}

// Encryption is what the new AMI's root snapshot is encrypted with.
type Encryption struct {
	Encrypted bool
	KMSKeyID  string // "" with Encrypted: the account's default EBS key
	// Note is a line for the UI when the choice deserves one (kept or dropped encryption).
	Note string
}

// Resolve decides the new snapshot's encryption from the options and the source's
// (sourceEncrypted, sourceKey: its root volume or snapshot; false for an import).
func (e *EncryptionConfig) Resolve(sourceEncrypted bool, sourceKey string) Encryption {
	switch {
	case e.EncryptBoot != nil && !*e.EncryptBoot && sourceEncrypted:
		return Encryption{Note: fmt.Sprintf("The source is encrypted (key %s); encrypt_boot = false: the new AMI's snapshot is NOT encrypted", sourceKey)}
	case e.EncryptBoot != nil && !*e.EncryptBoot:
		return Encryption{}
	case e.EncryptBoot != nil && e.KMSKeyID != "":
		return Encryption{Encrypted: true, KMSKeyID: e.KMSKeyID}
	case e.EncryptBoot != nil:
		return Encryption{Encrypted: true} // the account's default EBS key, as amazon's encrypt_boot
	case sourceEncrypted:
		return Encryption{Encrypted: true, KMSKeyID: sourceKey,
			Note: fmt.Sprintf("The source is encrypted: the new AMI's snapshot is encrypted too, with the source's key %s (encrypt_boot = false to drop encryption)", sourceKey)}
	}
	return Encryption{}
}

// Run returns the run tags: run_tags, else the fallback (tags or snapshot_tags).
func (e *EncryptionConfig) Run(fallback map[string]string) map[string]string {
	if len(e.RunTags) > 0 {
		return e.RunTags
	}
	return fallback
}
