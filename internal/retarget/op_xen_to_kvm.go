//go:build linux

package retarget

import (
	"github.com/chromogenic/packer-plugin-chromogenic/internal/clean"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"
)

// The xen-to-kvm cleaning op: Run's steps for KVM inside a clean.Run, registered into the
// cleaning engine's registry (clean imports nothing of this package).
func init() {
	clean.Register(clean.Op{
		Name: "xen-to-kvm",
		Description: "Convert a Xen guest for KVM: consoles to ttyS0, xvd disks to vd, virtio drivers in " +
			"modprobe aliases and the initramfs, initramfs rebuilt by the guest's own tool in the sandbox",
		Default:   false,
		AppliesTo: "Linux guests with a generic (non-Xen) kernel and its modules",
		Applies:   hasGenericKernel,
		Order:     95, // after every cleaning op, custom rules included
		Run: func(e *clean.Env) error {
			c := &converter{e: e, spec: targetSpecs[KVM],
				opts: &Options{Target: KVM, Devices: MountedDeviceSpecs(e.Context(), e.Root)}}
			c.exec, c.customExec = guestExec(nil, e.Opts.TrustGuest)
			for _, s := range steps {
				// Checked in a dry run too, so that it announces the same as the real run.
				if s.rebuild && !c.customExec {
					if why := c.chrootReady(); why != "" {
						e.Skip("/boot", "dir", "convert "+s.name+" not done: "+why+
							" (use the provisioner's target option or chromogenic clean --target, which mount them)")
						continue
					}
				}
				if err := s.run(c); err != nil {
					e.Errorf("%s: %v", s.name, err)
				}
			}
			return nil
		},
	})
}

// hasGenericKernel: the guest has a kernel other than a Xen-only flavour, with its modules.
func hasGenericKernel(o *guestfs.OSInfo) (bool, string) {
	for _, k := range o.Kernels {
		if !k.Xen && k.Modules {
			return true, ""
		}
	}
	return false, "no generic kernel with modules in /boot and /lib/modules"
}
