package ec2

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/aws/smithy-go"
)

// fatalCodes are API errors that no retry can fix.
var fatalCodes = map[string]bool{
	"ValidationException": true, "ResourceNotFoundException": true, "AccessDeniedException": true,
	"UnrecognizedClientException": true, "InvalidSignatureException": true,
	"ServiceQuotaExceededException": true, "ConflictException": true,
	"AuthFailure": true, "UnauthorizedOperation": true, "InvalidParameterValue": true,
	"InvalidSnapshot.NotFound": true, "InvalidAMIID.NotFound": true, "MissingParameter": true,
	"InvalidAMIName.Duplicate": true, "InvalidBlockDeviceMapping": true, "UnknownParameter": true,
}

// APICode returns the service error code of err, or "".
func APICode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// retryable tells whether err may go away on a new attempt: throttling, 5xx, cut or reset
// connections, bad checksums of received data. The SDK already retried what it could, but it
// does not retry a response body cut after the headers.
func retryable(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	return !fatalCodes[APICode(err)]
}

// backoff sleeps before attempt n (1-based) or returns ctx's error.
func backoff(ctx context.Context, n int) error {
	d := min(100*time.Millisecond<<min(n, 8), 10*time.Second)
	d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// withRetry runs fn up to attempts times while its error is retryable. onRetry is told of each
// failure that is retried.
func withRetry(ctx context.Context, attempts int, onRetry func(error), fn func() error) error {
	var err error
	for n := 1; ; n++ {
		err = fn()
		if err == nil || n >= attempts || !retryable(ctx, err) {
			return err
		}
		if onRetry != nil {
			onRetry(err)
		}
		if berr := backoff(ctx, n); berr != nil {
			return err
		}
	}
}
