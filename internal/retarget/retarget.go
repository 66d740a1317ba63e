//go:build linux

package retarget

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/clean"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"
)

// Hypervisor and target conversion.
//
// Run turns a guest set up for one hypervisor into one that boots on a target platform.
// Today the source is Xen (paravirtual or HVM) and the targets are "kvm" (virtio disk and
// network, serial console on ttyS0) and, prepared but not yet boot-tested, "aws" (ENA and
// NVMe drivers in the initramfs, ttyS0). The steps follow virt-v2v's Linux conversion:
//
//  1. console:          Xen consoles (hvc0, xvc0) become ttyS0 in inittab, systemd getty
//     units, upstart jobs and securetty;
//  2. block-devices:    /dev/xvdX names become UUID= (when the caller maps them) or the target's
//     names in fstab, crypttab and every bootloader configuration (kernel command
//     lines: root=, resume=, console=); stale LVM and blkid device caches go;
//  3. modprobe:         Xen block and network aliases point at the target's drivers;
//  4. initramfs-config: the target's drivers are listed for the guest's initramfs tool
//     (initramfs-tools modules file, a dracut.conf.d file, SUSE INITRD_MODULES) and Xen
//     drivers are dropped from those lists;
//  5. initramfs:        each kernel's initramfs is rebuilt by the guest's own tool, run inside
//     the guest root in the sandbox (plain chroot(2) with TrustGuest; never on the host),
//     the old one kept as *.pre-chromogenic;
//  6. bootloader:       grub.cfg is regenerated when the guest has grub-mkconfig/update-grub
//     (the in-place edits of step 2 stand otherwise, and for extlinux and
//     grub-legacy).
//
// Every guest file is read and written through guestfs (resolved inside the root), every change
// is recorded in the clean.Report like a cleaning op's, and DryRun lists it all without changing
// anything or running anything.

// Targets.
const (
	KVM = "kvm"
	AWS = "aws"
)

// Ran is the report action of a guest program run inside the guest root (Path is the program,
// Reason its arguments and outcome). The initramfs backups are clean.Copied entries.
const Ran clean.Action = "ran"

// BackupSuffix is appended to the name of an initramfs (or grub.cfg) kept from before the
// conversion.
const BackupSuffix = ".pre-chromogenic"

// targetSpec describes what a target platform needs from a Linux guest.
type targetSpec struct {
	name string
	// modules go into the initramfs (those the guest's kernels have, in this order).
	modules []string
	// required: at least one of these must exist for a kernel, or the conversion fails.
	required []string
	// blockAlias and netAlias replace Xen drivers in modprobe aliases.
	blockAlias, netAlias string
	// diskPrefix replaces "xvd" in device names the caller did not map to a UUID ("" keeps
	// the Xen names).
	diskPrefix string
	// console is the serial console device.
	console string
	// dropXen removes Xen drivers from the initramfs module lists.
	dropXen bool
}

var targetSpecs = map[string]targetSpec{
	KVM: {
		name:       KVM,
		modules:    []string{"virtio_pci", "virtio_blk", "virtio_scsi", "virtio_net", "virtio_console"},
		required:   []string{"virtio_blk", "virtio_scsi"},
		blockAlias: "virtio_blk", netAlias: "virtio_net",
		diskPrefix: "vd",
		console:    "ttyS0",
		dropXen:    true,
	},
	// AWS: Nitro instances see NVMe disks and ENA network cards; older instance types are
	// still Xen, so Xen drivers stay and disk names are only rewritten to UUIDs.
	AWS: {
		name:       AWS,
		modules:    []string{"nvme", "nvme_core", "ena", "xen_blkfront", "xen_netfront"},
		required:   []string{"nvme"},
		blockAlias: "nvme", netAlias: "ena",
		console: "ttyS0",
	},
}

// Targets lists the conversion targets Run accepts.
func Targets() []string {
	var t []string
	for n := range targetSpecs {
		t = append(t, n)
	}
	sort.Strings(t)
	return t
}

// ValidTarget reports whether target is a conversion target ("" is not).
func ValidTarget(target string) bool { _, ok := targetSpecs[target]; return ok }

// Exec runs a guest program inside the guest root dir (argv[0] is a guest path) and returns
// its combined output.
type Exec func(ctx context.Context, dir string, argv []string) ([]byte, error)

// Options configure Run.
type Options struct {
	// Target is the platform to convert to (KVM, AWS, PC).
	Target string `json:"target"`
	// DryRun lists what would change without changing or running anything.
	DryRun bool `json:"dry_run,omitempty"`
	// Devices maps guest kernel device names (/dev/xvda1) to what should replace them,
	// normally "UUID=<filesystem uuid>" (see DeviceSpecs). Unmapped Xen names get the
	// target's names (/dev/vda1 for kvm). Nil means MountedDeviceSpecs (the UUIDs of the
	// guest filesystems mounted under the root); an empty map renames every Xen name.
	Devices map[string]string `json:"devices,omitempty"`
	// NoRebuild skips rebuilding the initramfs and regenerating the bootloader configuration
	// (file edits only; the guest will most likely not boot on the target until its
	// initramfs is rebuilt).
	NoRebuild bool `json:"no_rebuild,omitempty"`
	// Exec runs guest programs; nil means the sandbox (internal/sandbox, no network), or with
	// TrustGuest plain chroot, which needs proc, sys and dev mounted in the root (checked).
	// Another Exec answers for its programs' environment.
	Exec Exec `json:"-"`
	// TrustGuest runs the guest's programs with plain chroot instead of the sandbox: the
	// templates' `sandbox = false`, for guests the user trusts.
	TrustGuest bool `json:"trust_guest,omitempty"`
	// AllowLiveRoot lets Run work on this machine's own "/".
	AllowLiveRoot bool `json:"allow_live_root,omitempty"`
	// MaxEditSize is the largest file read to edit (default 16 MiB).
	MaxEditSize int64 `json:"max_edit_size,omitempty"`
	// Logf receives one line per step and per error.
	Logf func(format string, args ...any) `json:"-"`
}

// DeviceSpecs maps the Xen names of the partitions of the guest's first disk (/dev/xvda1...,
// or /dev/xvda for a partitionless disk: key 0) to "UUID=<uuid>", for Options.Devices.
// uuids maps partition numbers to filesystem UUIDs; empty UUIDs are left out.
func DeviceSpecs(uuids map[int]string) map[string]string {
	m := map[string]string{}
	for n, u := range uuids {
		if u == "" {
			continue
		}
		name := "/dev/xvda"
		if n > 0 {
			name += strconv.Itoa(n)
		}
		m[name] = "UUID=" + u
	}
	return m
}

// step is one step of a conversion; it works through c.e like an op.
type step struct {
	name, description string
	run               func(c *converter) error
	rebuild           bool // skipped with NoRebuild
}

var steps = []step{
	{"console", "Xen consoles (hvc0, xvc0) to the target's serial console", (*converter).console, false},
	{"block-devices", "Xen disk names to UUIDs or the target's names in fstab, crypttab and bootloader configuration", (*converter).blockDevices, false},
	{"modprobe", "modprobe aliases of Xen drivers to the target's drivers", (*converter).modprobe, false},
	{"initramfs-config", "the target's drivers listed for the guest's initramfs tool", (*converter).initramfsConfig, false},
	{"initramfs", "initramfs rebuilt by the guest's own tool inside the guest root", (*converter).rebuildInitramfs, true},
	{"bootloader", "bootloader configuration regenerated by the guest's own tool", (*converter).regenerateBootloader, true},
}

// converter carries one conversion.
type converter struct {
	e      *clean.Env
	spec   targetSpec
	opts   *Options
	exec   Exec
	mods   []string                   // target modules available for the guest's kernels (set by initramfs-config)
	kmods  map[string]map[string]bool // kernel version -> its modules (set by initramfs-config)
	modCfg bool                       // the initramfs configuration was changed
	steps  bool                       // each step has its own OpReport (Run)
	// customExec: programs run through Options.Exec or the sandbox, which answer for
	// the environment they need (no check for proc, sys and dev mounts).
	customExec bool
}

// Run converts the guest tree at root for opts.Target and returns the report (one OpReport
// per step, named "convert-<step>"). Like clean.Run, it returns the report whenever the steps
// ran, with the joined step errors.
func Run(ctx context.Context, root *guestfs.Root, opts Options) (*clean.Report, error) {
	spec, ok := targetSpecs[opts.Target]
	if !ok {
		return nil, fmt.Errorf("retarget: unknown conversion target %q (known: %s)", opts.Target, strings.Join(Targets(), ", "))
	}
	c := &converter{spec: spec, opts: &opts, steps: true}
	c.exec, c.customExec = guestExec(opts.Exec, opts.TrustGuest)
	devices := opts.Devices != nil
	var ss []clean.Step
	for _, s := range steps {
		s := s
		cs := clean.Step{Name: "convert-" + s.name, Description: s.description}
		if s.rebuild && opts.NoRebuild {
			cs.Skip = "no_rebuild set"
		}
		cs.Run = func(e *clean.Env) error {
			if !devices {
				// Once the root is known to be a Linux guest, not the host's "/".
				opts.Devices, devices = MountedDeviceSpecs(ctx, root), true
			}
			if opts.Logf != nil {
				opts.Logf("convert %s: %s", s.name, s.description)
			}
			c.e = e
			return s.run(c)
		}
		ss = append(ss, cs)
	}
	return clean.RunSteps(ctx, root, clean.StepOptions{DryRun: opts.DryRun, AllowLiveRoot: opts.AllowLiveRoot,
		MaxEditSize: opts.MaxEditSize, Logf: opts.Logf}, ss)
}
