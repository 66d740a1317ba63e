package common

import (
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"
)

// With the sandbox (the default) nothing of the host is mounted in the guest tree: the
// sandbox brings its own /proc and /dev. sandbox = false trusts the guest and gets the host's
// proc, sys and dev back, as packer-plugin-amazon's chroot builder mounts them.
func TestSandboxDefaults(t *testing.T) {
	var on ChrootConfig
	if errs := on.Prepare(&interpolate.Context{}); len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(on.ChrootMounts) != 0 || on.GuestPrograms().TrustGuest || !on.GuestPrograms().Network {
		t.Errorf("default: chroot_mounts %v, programs %+v", on.ChrootMounts, on.GuestPrograms())
	}
	off, no := ChrootConfig{Sandbox: boolPtr(false)}, ChrootConfig{SandboxNetwork: boolPtr(false)}
	off.Prepare(&interpolate.Context{})
	no.Prepare(&interpolate.Context{})
	if len(off.ChrootMounts) != 4 || !off.GuestPrograms().TrustGuest {
		t.Errorf("sandbox = false: chroot_mounts %v, programs %+v", off.ChrootMounts, off.GuestPrograms())
	}
	if no.GuestPrograms().Network || no.GuestPrograms().TrustGuest {
		t.Errorf("sandbox_network = false: programs %+v", no.GuestPrograms())
	}
}
