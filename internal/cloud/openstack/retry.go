package openstack

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/gophercloud/gophercloud/v2"
)

// Retry policy: requests that are safe to repeat (GET, HEAD, DELETE, and PUT without a body,
// like tag updates) are retried when the cloud answers 500, 502, 503 or 504, when the
// connection fails or is reset, or when a JSON answer is cut short. Requests that create or
// change something (POST, PATCH, a PUT carrying image data) are never repeated: a retry could
// act twice, and an image data stream cannot be replayed. 429 is left to gophercloud's own
// backoff.
const MaxRetries = 5 // how many times one safe request is repeated

// RetryBase is the first backoff; it doubles up to RetryMax. (Variables for the tests.)
var (
	RetryBase = 500 * time.Millisecond
	RetryMax  = 8 * time.Second
)

// retryFunc is the gophercloud.RetryFunc of every client Connect returns.
func retryFunc(ctx context.Context, method, url string, opts *gophercloud.RequestOpts, err error, failCount uint) error {
	if failCount > MaxRetries || !idempotent(method, opts) || !retryable(err) || ctx.Err() != nil {
		return err
	}
	wait := backoff(failCount)
	log.Printf("[WARN] openstack: %s %s failed (%v); retry %d/%d in %s", method, url, shortErr(err), failCount, MaxRetries, wait)
	select {
	case <-ctx.Done():
		return err
	case <-time.After(wait):
	}
	return nil
}

func backoff(failCount uint) time.Duration {
	d := RetryBase << (failCount - 1)
	if d > RetryMax || d <= 0 {
		d = RetryMax
	}
	return d
}

func idempotent(method string, opts *gophercloud.RequestOpts) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodDelete, http.MethodOptions:
		return true
	case http.MethodPut:
		return opts == nil || (opts.RawBody == nil && opts.JSONBody == nil)
	}
	return false
}

// retryable says whether err is a transient failure of the cloud or the network.
func retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var code gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &code) {
		switch code.Actual {
		case 500, 502, 503, 504:
			return true
		}
		return false
	}
	var pcode *gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &pcode) {
		switch pcode.Actual {
		case 500, 502, 503, 504:
			return true
		}
		return false
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	if isCertificateError(err) {
		return false // a wrong or missing CA does not heal by waiting
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr)
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i > 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// retryConnect repeats authentication (a POST to Keystone that creates nothing but a token)
// on the same transient failures.
func retryConnect[T any](ctx context.Context, what string, f func() (T, error)) (T, error) {
	for n := uint(1); ; n++ {
		v, err := f()
		if err == nil || n > MaxRetries || !retryable(err) || ctx.Err() != nil {
			return v, err
		}
		wait := backoff(n)
		log.Printf("[WARN] openstack: %s failed (%v); retry %d/%d in %s", what, shortErr(err), n, MaxRetries, wait)
		select {
		case <-ctx.Done():
			return v, fmt.Errorf("%w (then: %v)", err, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// newImageID returns a random (version 4) UUID for an image this package creates.
func newImageID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// isCertificateError tells whether err is a TLS certificate verification failure.
func isCertificateError(err error) bool {
	var verr *tls.CertificateVerificationError
	var uerr x509.UnknownAuthorityError
	var herr x509.HostnameError
	var ierr x509.CertificateInvalidError
	return errors.As(err, &verr) || errors.As(err, &uerr) || errors.As(err, &herr) || errors.As(err, &ierr)
}
