package ec2

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
)

// Host is the instance this process runs on, as its instance metadata service tells.
type Host struct {
	InstanceID       string
	AvailabilityZone string
	Region           string // "" where the service does not tell it (Eucalyptus)
}

// HostIdentity asks the instance metadata service (IMDSv2 session tokens, falling back to
// IMDSv1 where the service has no tokens, as on Eucalyptus) which instance this is and in
// which availability zone. The SDK's usual settings apply: AWS_EC2_METADATA_SERVICE_ENDPOINT
// (or ec2_metadata_service_endpoint in the shared config) moves the endpoint, and
// AWS_EC2_METADATA_DISABLED=true turns the service off, which is then an error.
func HostIdentity(ctx context.Context, cfg aws.Config) (Host, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c := imds.NewFromConfig(cfg, func(o *imds.Options) {
		// Off EC2 the service does not answer: a few quick attempts, not the API retryer's.
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) { so.MaxAttempts = 3 })
	})
	get := func(path string) (string, error) {
		out, err := c.GetMetadata(ctx, &imds.GetMetadataInput{Path: path})
		if err != nil {
			return "", err
		}
		defer out.Content.Close()
		b, err := io.ReadAll(io.LimitReader(out.Content, 4096))
		return strings.TrimSpace(string(b)), err
	}
	var h Host
	var err error
	if h.InstanceID, err = get("instance-id"); err != nil {
		return Host{}, fmt.Errorf("instance metadata service: instance-id: %w", err)
	}
	if h.AvailabilityZone, err = get("placement/availability-zone"); err != nil {
		return Host{}, fmt.Errorf("instance metadata service: placement/availability-zone: %w", err)
	}
	if h.InstanceID == "" || h.AvailabilityZone == "" {
		return Host{}, fmt.Errorf("instance metadata service: empty instance-id %q or availability zone %q", h.InstanceID, h.AvailabilityZone)
	}
	h.Region, _ = get("placement/region") // absent from older services
	return h, nil
}
