package openstack

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// timeoutErr says so when err ended a wait because state_timeout passed (rather than the
// build being cancelled).
func timeoutErr(parent context.Context, err error, timeout time.Duration) error {
	if err != nil && errors.Is(err, context.DeadlineExceeded) && parent.Err() == nil {
		return fmt.Errorf("state_timeout (%s) reached: %w", timeout, err)
	}
	return err
}
