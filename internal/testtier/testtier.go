// Package testtier is the one gate between the project's two test tiers.
//
// Unit tests (`make test-unit`, plain `go test ./...`) run no cloud, no packer build and no
// guest boot, and finish in a few minutes on a two-core machine; real loop mounts and chroots
// on the sample Debian tree are allowed when they are fast. Acceptance tests need the
// all-in-one OpenStack (test/openstack-aio), the real packer binary (internal/packertest, the
// EC2 emulator under packer included), a qemu boot of a guest, or minutes of CPU; they run
// only with PACKER_ACC=1, which `make test` (CI, .ci/run) sets.
//
// An acceptance test calls Acceptance first. The shared helpers that start the cloud, run
// packer or boot a guest call it too, so an ungated test skips there instead of starting them.
// By convention a file named *_acc_test.go holds only acceptance tests.
package testtier

import (
	"os"
	"testing"
)

// Enabled reports whether acceptance tests run: PACKER_ACC=1.
func Enabled() bool { return os.Getenv("PACKER_ACC") == "1" }

// Acceptance skips the test unless PACKER_ACC=1. why names what the test needs, e.g.
// "the all-in-one OpenStack cloud", "a packer build" or "a qemu boot"; the skip message is
// "acceptance test, needs <why>: set PACKER_ACC=1 (make test)".
func Acceptance(t testing.TB, why string) {
	t.Helper()
	if !Enabled() {
		t.Skip("acceptance test, needs " + why + ": set PACKER_ACC=1 (make test)")
	}
}
