package ec2emu

import (
	"fmt"
	"net/http"
	"regexp"
)

// EBS encryption and the "require tags on create" policy.
//
// Snapshots and volumes carry an encryption flag and the ARN of their KMS key; it follows the
// data as on AWS: CreateImage and CreateSnapshot snapshots of an encrypted volume are
// encrypted with its key, a volume of an encrypted snapshot too, and the block device
// mappings of images show Encrypted when their snapshot is. Keys are not modelled beyond
// their ARN (the data is stored in the clear): any well-formed key ARN is accepted.

// DefaultKMSKeyID is the ARN of the account's default EBS key (alias aws/ebs) in the
// emulator: what StartSnapshot with Encrypted and no KmsKeyArn, and seeded encrypted
// resources without a key, are encrypted with.
func (s *Server) DefaultKMSKeyID() string {
	return fmt.Sprintf("arn:aws:kms:%s:%s:key/00000000-0000-4000-8000-0000000000eb", s.Region, s.AccountID)
}

// kmsKeyARN is the StartSnapshot model's KmsKeyArn pattern (a key ARN, not an id or alias).
var kmsKeyARN = regexp.MustCompile(`^arn:aws[\w-]*:kms:[\w-]+:[0-9]{12}:key/[\w-]+$`)

// seedEncryption resolves the encryption of a seeded resource.
func (s *Server) seedEncryption(encrypted bool, key string) (bool, string) {
	if !encrypted {
		return false, ""
	}
	if key == "" {
		key = s.DefaultKMSKeyID()
	}
	return true, key
}

// startEncryption applies the EBS direct API's documented outcomes for StartSnapshot
// ("Encryption outcomes for EBS direct APIs", account encryption by default off): without a
// parent, Encrypted=true encrypts with KmsKeyArn or else the default EBS key, and a KmsKeyArn
// without Encrypted=true is a ValidationException; Encrypted with a ParentSnapshotId is a
// ValidationException; a child of an encrypted parent keeps the parent's key.
func (st *state) startEncryption(encrypted bool, key, parent string) (bool, string, *apiError) {
	if key != "" && !kmsKeyARN.MatchString(key) {
		return false, "", validation("INVALID_PARAMETER_VALUE", "KmsKeyArn %q is not a KMS key ARN", key)
	}
	if parent != "" {
		if encrypted {
			return false, "", validation("INVALID_PARAMETER_VALUE", "You can't specify Encrypted and ParentSnapshotId in the same request")
		}
		if key != "" {
			return false, "", validation("INVALID_PARAMETER_VALUE", "KmsKeyArn requires Encrypted")
		}
		if p := st.snapshots[parent]; p != nil && p.encrypted {
			return true, p.kmsKeyID, nil
		}
		return false, "", nil
	}
	if key != "" && !encrypted {
		return false, "", validation("INVALID_PARAMETER_VALUE", "KmsKeyArn requires Encrypted to be true")
	}
	if !encrypted {
		return false, "", nil
	}
	if key == "" {
		key = st.s.DefaultKMSKeyID()
	}
	return true, key, nil
}

// RequireTagsOnCreate turns on (or off) an IAM-like policy of the account that denies the
// creation of untagged resources (an aws:RequestTag / aws:TagKeys condition): CreateImage
// without tags for both the image and its snapshots, CreateVolume, CreateSnapshot,
// RegisterImage and CopyImage without TagSpecification for their resource, StartSnapshot
// without Tags. Tags set afterwards with CreateTags do not help, as on AWS.
func (s *Server) RequireTagsOnCreate(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requireTags = on
}

// taggedCreates lists, per EC2 action, the resource types the policy wants tagged.
var taggedCreates = map[string][]string{
	"CreateImage":    {"image", "snapshot"},
	"CreateVolume":   {"volume"},
	"CreateSnapshot": {"snapshot"},
	"RegisterImage":  {"image"},
	"CopyImage":      {"image"},
}

func denyUntagged(action, what string) *apiError {
	return errf(http.StatusForbidden, "UnauthorizedOperation",
		"You are not authorized to perform this operation: %s of an untagged %s is denied by the account's policy (aws:RequestTag).", action, what)
}

// tagPolicy checks an EC2 Query action against the policy (serveEC2, without the lock).
func (s *Server) tagPolicy(action string, p params) *apiError {
	s.mu.Lock()
	on := s.requireTags
	s.mu.Unlock()
	if !on {
		return nil
	}
	for _, rt := range taggedCreates[action] {
		if len(tagSpecs(p, rt)) == 0 {
			return denyUntagged(action, rt)
		}
	}
	return nil
}

// tagPolicyStart checks StartSnapshot (called with the lock held).
func (s *Server) tagPolicyStart(tags int) *apiError {
	if s.requireTags && tags == 0 {
		e := denyUntagged("StartSnapshot", "snapshot")
		e.Code = "AccessDeniedException"
		return e
	}
	return nil
}
