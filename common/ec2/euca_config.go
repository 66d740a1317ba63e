//go:generate packer-sdc struct-markdown
//go:generate packer-sdc mapstructure-to-hcl2 -type EucaImageConfig

package ec2common

import (
	"errors"
	"fmt"
	"regexp"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
)

// EucaImageConfig says how a new Eucalyptus EMI boots: HVM, or paravirtual with the kernel
// (eki-) and ramdisk (eri-) images the cloud boots it with, as euca-register
// `--virtualization-type paravirtual --kernel eki-… --ramdisk eri-…` registers it. It applies
// to both ways of registering (`eucalyptus.register`): the bundle's manifest and
// RegisterImage carry the ids.
type EucaImageConfig struct {
	// How the new EMI is virtualized: `hvm` or `paravirtual` (Eucalyptus only). The
	// chromogenic-ec2 builder defaults to the source's: a paravirtual source EMI or instance
	// gives a paravirtual EMI booting with the source's kernel and ramdisk. Set `hvm` when
	// the guest was converted to boot on its own (the chromogenic-clean `target = "kvm"`
	// conversion of a Xen guest): the source's kernel and ramdisk are then not carried. The
	// chromogenic-ec2-import post-processor defaults to `paravirtual` when `kernel_id` is
	// set, else `hvm`. AWS is refused `paravirtual`: it retired paravirtual AMIs for current
	// instance types.
	AMIVirtType string `mapstructure:"ami_virtualization_type" required:"false"`
	// The kernel image (`eki-…`, or `aki-…`) a paravirtual EMI boots with. Setting it makes
	// the EMI paravirtual. The builder defaults to the source's kernel when the EMI is
	// paravirtual. Eucalyptus only.
	KernelID string `mapstructure:"kernel_id" required:"false"`
	// The ramdisk image (`eri-…`, or `ari-…`) booted with `kernel_id`; optional, and only
	// with a kernel. The builder defaults to the source's ramdisk when it also takes the
	// source's kernel. Eucalyptus only.
	RamdiskID string `mapstructure:"ramdisk_id" required:"false"`
}

var (
	kernelIDRE  = regexp.MustCompile(`^[ea]ki-[0-9a-zA-Z]{1,32}$`)
	ramdiskIDRE = regexp.MustCompile(`^[ea]ri-[0-9a-zA-Z]{1,32}$`)
)

// Prepare checks the settings; eucalyptus is true with a `eucalyptus` block, fromSource when
// a source image or instance can give the kernel (the builder). Every error names its field.
func (c *EucaImageConfig) Prepare(eucalyptus, fromSource bool) []error {
	var errs []error
	if !eucalyptus {
		for field, v := range map[string]string{"kernel_id": c.KernelID, "ramdisk_id": c.RamdiskID} {
			if v != "" {
				errs = append(errs, fmt.Errorf("%s is for paravirtual Eucalyptus EMIs (a eucalyptus block): AWS retired paravirtual AMIs for current instance types, and new AMIs are registered HVM", field))
			}
		}
		switch c.AMIVirtType {
		case "", "hvm":
		case "paravirtual":
			errs = append(errs, errors.New(`ami_virtualization_type "paravirtual" is for Eucalyptus (a eucalyptus block): AWS retired paravirtual AMIs for current instance types; register "hvm"`))
		default:
			errs = append(errs, fmt.Errorf("ami_virtualization_type %q: want hvm or paravirtual", c.AMIVirtType))
		}
		return errs
	}
	if c.KernelID != "" && !kernelIDRE.MatchString(c.KernelID) {
		errs = append(errs, fmt.Errorf("kernel_id %q: want a kernel image id, eki-… (or aki-…)", c.KernelID))
	}
	if c.RamdiskID != "" && !ramdiskIDRE.MatchString(c.RamdiskID) {
		errs = append(errs, fmt.Errorf("ramdisk_id %q: want a ramdisk image id, eri-… (or ari-…)", c.RamdiskID))
	}
	if c.RamdiskID != "" && c.KernelID == "" {
		errs = append(errs, errors.New("ramdisk_id needs kernel_id: a ramdisk boots with the kernel it was made for"))
	}
	switch c.AMIVirtType {
	case "":
	case "hvm":
		if c.KernelID != "" || c.RamdiskID != "" {
			errs = append(errs, errors.New(`kernel_id and ramdisk_id are for ami_virtualization_type "paravirtual": an HVM EMI boots from its own disk`))
		}
	case "paravirtual":
		if c.KernelID == "" && !fromSource {
			errs = append(errs, errors.New(`ami_virtualization_type "paravirtual" needs kernel_id: the eki- image the EMI boots with`))
		}
	default:
		errs = append(errs, fmt.Errorf("ami_virtualization_type %q: want hvm or paravirtual", c.AMIVirtType))
	}
	return errs
}

// Boot settles how the new EMI boots, given what the source (image or instance) says
// (all "" without a source):
//
//   - ami_virtualization_type, else paravirtual when kernel_id is set, else the source's,
//     else hvm;
//   - an HVM EMI carries no kernel or ramdisk;
//   - a paravirtual one boots with kernel_id (and ramdisk_id), else with the source's kernel
//     and ramdisk; without either it is an error.
func (c *EucaImageConfig) Boot(srcVirt, srcKernel, srcRamdisk string) (cloud.EucaBoot, error) {
	vt := c.AMIVirtType
	switch {
	case vt != "":
	case c.KernelID != "":
		vt = "paravirtual"
	case srcVirt == "paravirtual":
		vt = "paravirtual"
	default:
		vt = "hvm"
	}
	if vt == "hvm" {
		return cloud.EucaBoot{VirtualizationType: vt}, nil
	}
	b := cloud.EucaBoot{VirtualizationType: vt, KernelID: c.KernelID, RamdiskID: c.RamdiskID}
	if b.KernelID == "" {
		b.KernelID, b.RamdiskID = srcKernel, srcRamdisk
	}
	if b.KernelID == "" {
		return b, errors.New(`ami_virtualization_type "paravirtual": the source names no kernel; set kernel_id (the eki- image the EMI boots with)`)
	}
	return b, nil
}
