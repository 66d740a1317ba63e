package openstacktest

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

// LoginPrompt matches a getty's prompt on a serial console, "<hostname> login: ", wherever it
// is on its line (agetty may put terminal escapes before it).
var LoginPrompt = regexp.MustCompile(`[\w.-]+ login: `)

// BootTimeout bounds a boot to the login prompt: the all-in-one cloud's Nova runs its guests
// under TCG, where the sample Debian takes 50-120 s on an idle host and several times that on
// a busy two-core CI machine.
const BootTimeout = 12 * time.Minute

// BootToLogin boots a server from an image (m1.small, no network) and polls its console log
// (Nova os-getConsoleOutput: libvirt logs the guest's first serial port there) until a login
// prompt shows. The server is deleted before it returns. The test fails with the console's
// tail if the prompt does not show within timeout or the server goes ERROR or stops.
// It returns the console log.
func BootToLogin(t testing.TB, c *cloud.Clients, name, imageID string, timeout time.Duration) string {
	t.Helper()
	testtier.Acceptance(t, "a guest boot on the all-in-one OpenStack cloud")
	r := bootToLogin(context.Background(), c, name, imageID, timeout)
	if r.err != nil {
		t.Fatalf("image %s: %v", imageID, r.err)
	}
	t.Logf("image %s booted to a login prompt in %s (ACTIVE after %s)", imageID, r.login.Round(time.Second), r.active.Round(time.Second))
	return r.console
}

// GoBootToLogin is BootToLogin in the background, so the test can go on with other checks
// while the guest boots. The returned wait blocks until the boot is over and reports a
// failure with t.Errorf; call it from the test's goroutine. If the test ends first, the boot
// is cancelled and its server deleted.
func GoBootToLogin(t testing.TB, c *cloud.Clients, name, imageID string, timeout time.Duration) (wait func()) {
	t.Helper()
	testtier.Acceptance(t, "a guest boot on the all-in-one OpenStack cloud")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan bootResult, 1)
	go func() { done <- bootToLogin(ctx, c, name, imageID, timeout) }()
	var r *bootResult
	result := func() *bootResult {
		if r == nil {
			v := <-done
			r = &v
		}
		return r
	}
	t.Cleanup(func() {
		cancel()
		result()
	})
	return func() {
		t.Helper()
		start := time.Now()
		r := result()
		if r.err != nil {
			t.Errorf("image %s: %v", imageID, r.err)
			return
		}
		t.Logf("image %s booted to a login prompt in %s (ACTIVE after %s); the test waited %s for it",
			imageID, r.login.Round(time.Second), r.active.Round(time.Second), time.Since(start).Round(time.Second))
	}
}

type bootResult struct {
	console       string
	active, login time.Duration // from the create request
	err           error
}

// bootToLogin does BootToLogin's work without the testing.TB, so it can run in any goroutine.
func bootToLogin(ctx context.Context, c *cloud.Clients, name, imageID string, timeout time.Duration) (r bootResult) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	srv, del, err := bootServer(ctx, c, name, imageID)
	if del != nil {
		defer del()
	}
	if err != nil {
		r.err = err
		return r
	}
	r.active = time.Since(start)
	compute := *c.Compute
	compute.Microversion = "2.37"
	for {
		out, cerr := servers.ShowConsoleOutput(ctx, &compute, srv.ID, servers.ShowConsoleOutputOpts{}).Extract()
		if cerr == nil {
			r.console = out
			if LoginPrompt.MatchString(out) {
				r.login = time.Since(start)
				return r
			}
		}
		cur, gerr := servers.Get(ctx, &compute, srv.ID).Extract()
		if gerr == nil && cur.Status != "ACTIVE" {
			r.err = fmt.Errorf("server %s is %s before a login prompt (fault %q); console:\n%s",
				srv.ID, cur.Status, cur.Fault.Message, consoleTail(r.console))
			return r
		}
		select {
		case <-ctx.Done():
			why := "no login prompt"
			if cerr != nil {
				why += fmt.Sprintf(" (console log: %v)", cerr)
			}
			r.err = fmt.Errorf("server %s: %s within %s; console:\n%s", srv.ID, why, time.Since(start).Round(time.Second), consoleTail(r.console))
			return r
		case <-time.After(5 * time.Second):
		}
	}
}

// consoleTail returns the last 40 lines of a console log.
func consoleTail(s string) string {
	if strings.TrimSpace(s) == "" {
		return "(empty)"
	}
	lines := strings.Split(strings.TrimRight(s, "\r\n"), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}
