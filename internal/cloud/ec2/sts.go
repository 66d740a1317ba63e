package ec2

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
)

// assumeRole is the credentials of role r: cfg's credentials call STS AssumeRole (at
// endpoint when set), and the answer is cached and renewed before it expires.
func assumeRole(cfg aws.Config, endpoint string, r AssumeRole) aws.CredentialsProvider {
	client := sts.NewFromConfig(cfg, func(o *sts.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	return aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(client, r.RoleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = r.SessionName
		if r.ExternalID != "" {
			o.ExternalID = aws.String(r.ExternalID)
		}
		if r.Duration > 0 {
			o.Duration = r.Duration
		}
		if r.Policy != "" {
			o.Policy = aws.String(r.Policy)
		}
		for _, arn := range r.PolicyARNs {
			o.PolicyARNs = append(o.PolicyARNs, ststypes.PolicyDescriptorType{Arn: aws.String(arn)})
		}
		for _, k := range sortedKeys(r.Tags) {
			o.Tags = append(o.Tags, ststypes.Tag{Key: aws.String(k), Value: aws.String(r.Tags[k])})
		}
		o.TransitiveTagKeys = r.TransitiveTagKeys
	}))
}
