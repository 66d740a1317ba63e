package clean

import "github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"

func init() {
	Register(Op{
		Name: "xen-to-kvm",
		Description: "Convert a Xen guest for KVM: consoles to ttyS0, xvd disks to vd, virtio drivers in " +
			"modprobe aliases and the initramfs, initramfs rebuilt by the guest's own tool in the sandbox",
		Default:   false,
		AppliesTo: "Linux guests with a generic (non-Xen) kernel and its modules",
		Applies:   hasGenericKernel,
		Order:     95, // after every cleaning op, custom rules included
		Run: func(e *Env) error {
			c := &converter{e: e, spec: targetSpecs[TargetKVM],
				opts: &ConvertOptions{Target: TargetKVM, Devices: MountedDeviceSpecs(e.Context(), e.Root)}}
			c.exec, c.customExec = guestExec(nil, e.Opts.TrustGuest)
			for _, s := range convertSteps {
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
