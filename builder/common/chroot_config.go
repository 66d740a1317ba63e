//go:generate packer-sdc struct-markdown
//go:generate packer-sdc mapstructure-to-hcl2 -type ChrootConfig

package common

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/hostfile"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/sandbox"
)

// ChrootConfig says how the working copy is mounted and how provisioners reach it.
type ChrootConfig struct {
	// The directory the guest's root filesystem is mounted on while provisioners run. It may
	// use `{{.Device}}`, the name of the whole-disk loop device (`loop3`). Defaults to
	// `/mnt/chromogenic/{{.Device}}`.
	MountPath string `mapstructure:"mount_path" required:"false"`
	// Options for mounting every guest filesystem, such as `["noatime"]`. `nosuid` and
	// `nodev` are always added, so the guest's setuid programs and device nodes do not work on
	// the host, unless the list explicitly holds `suid` or `dev` (which then trusts the guest).
	MountOptions []string `mapstructure:"mount_options" required:"false"`
	// The partition number holding the guest's root filesystem. By default chromogenic finds
	// it: every Linux filesystem is inspected and the one holding `/etc` and `/bin/sh` (and
	// named `/` by its own fstab, when several qualify) is the root. It is recorded in the
	// artifact (its `root_partition` state), so chromogenic-convert's `bootable` boots that root.
	RootPartition int `mapstructure:"root_partition" required:"false"`
	// The LVM logical volume holding the guest's root filesystem, as `vg/lv` (such as
	// `rhel/root`), when the rule above picks another (a guest with several Linux roots on
	// logical volumes). Use either `root_partition` or `root_volume`. It is recorded in the
	// artifact (its `root_volume` state), so chromogenic-convert's `bootable` boots that root.
	RootVolume string `mapstructure:"root_volume" required:"false"`
	// On a btrfs root, the subvolume holding the guest's root, as a path from the
	// filesystem's top level (`root`, `@`, `@/.snapshots/1/snapshot`; `/` for the top level
	// itself). By default it is the filesystem's default subvolume if that holds a Linux
	// root, else the one subvolume whose own fstab mounts it at `/`, else the only subvolume
	// holding a Linux root; set this to choose among snapper's snapshots, say. It is recorded
	// in the artifact (its `root_subvolume` state), so chromogenic-convert's `bootable` boots
	// that subvolume.
	RootSubvolume string `mapstructure:"root_subvolume" required:"false"`
	// Mount points of the guest's `/etc/fstab` to mount below the root as well, parents first.
	// Defaults to `["/boot", "/boot/efi"]`.
	FstabMounts []string `mapstructure:"fstab_mounts" required:"false"`
	// Run provisioners' commands (the guest's `/bin/sh` and what it starts) in a sandbox:
	// new mount, PID, IPC and UTS namespaces, pivot_root into the guest, a fresh `/proc`, a
	// private `/dev`, no sysfs, a cut capability set, no_new_privs, a seccomp filter and a
	// fixed environment with nothing of the host's (see docs/trust-model.md). Needs
	// bubblewrap (`bwrap`) on the host. Defaults to `true`. `false` runs them with plain
	// chroot and the host's `/proc`, `/sys` and `/dev` mounted in the guest: it **trusts the
	// guest**, for templates that must touch the host.
	Sandbox *bool `mapstructure:"sandbox" required:"false"`
	// Give sandboxed provisioner commands the host's network (apt-get, curl). Defaults to
	// `true`; `false` leaves them only a loopback of their own.
	SandboxNetwork *bool `mapstructure:"sandbox_network" required:"false"`
	// Extra mounts for the chroot, each `[type, source, guest path]`; type `bind` bind-mounts
	// a host path. With the sandbox (the default) nothing is needed and the default is none:
	// the sandbox gives commands their own `/proc`, `/dev` and `/dev/pts` (mounts listed here
	// are still made in the guest tree, and the sandbox's own `/proc` and `/dev` cover those
	// two). With `sandbox = false` the default is proc on /proc, sysfs on /sys, a bind of /dev
	// and devpts on /dev/pts. Set to an empty list to mount nothing.
	ChrootMounts [][]string `mapstructure:"chroot_mounts" required:"false"`
	// Host files copied into the guest at the same path for the build, such as
	// `/etc/resolv.conf` (the default). The guest's own file or symlink is put back afterwards.
	CopyFiles []string `mapstructure:"copy_files" required:"false"`
	// Do not discard the free blocks of the guest filesystems before releasing them. Trimming
	// is what keeps the working copy sparse after provisioners delete files.
	SkipTrim bool `mapstructure:"skip_trim" required:"false"`
	// The mode of the files the build leaves on the host (the working copy, external kernel
	// and ramdisk), as an octal string. Defaults to `"0600"`: a guest image can hold secrets,
	// so only the owner may read it. Use `"0640"` to give the file's group read access; the
	// `output_directory` the builder creates gets the matching directory mode (`0700`, `0750`).
	FileMode string `mapstructure:"file_mode" required:"false"`
	// Check the guest filesystems of the working copy before mounting them: `"skip"` (the
	// default) mounts them as they are; `"check"` runs `e2fsck -f -n`, `xfs_repair -n` or
	// `btrfs check --readonly` on the root and each `fstab_mounts` filesystem just before it
	// is mounted and fails the build, naming the partition and quoting the tool, when one is
	// damaged; `"repair"` runs `e2fsck -f -p` (the safe automatic fixes) or `xfs_repair`
	// instead. Btrfs is only ever checked (`btrfs check --repair` can make damage worse), and
	// an XFS whose log needs replaying is not repaired (`xfs_repair -L` would discard the
	// log). Other filesystems (vfat) are not checked. A capture of a running instance can
	// have a journal or log to replay, which `check` may report as damage. Each tool run is
	// limited to 30 minutes.
	Fsck string `mapstructure:"fsck" required:"false"`

	fileMode os.FileMode
	fsck     chroot.FsckMode
}

// Prepare fills defaults and validates; every error names its field.
func (c *ChrootConfig) Prepare(ctx *interpolate.Context) []error {
	var errs []error
	if c.MountPath == "" {
		c.MountPath = "/mnt/chromogenic/{{.Device}}"
	}
	if err := interpolate.Validate(c.MountPath, ctx); err != nil {
		errs = append(errs, fmt.Errorf("mount_path: %w", err))
	}
	if m, err := hostfile.ParseMode("file_mode", c.FileMode); err != nil {
		errs = append(errs, err)
	} else {
		c.fileMode = m
	}
	if m, err := chroot.ParseFsckMode(c.Fsck); err != nil {
		errs = append(errs, fmt.Errorf("fsck: %w", err))
	} else {
		c.fsck = m
	}
	c.MountOptions = chroot.GuestMountOptions(c.MountOptions)
	if c.RootPartition < 0 {
		errs = append(errs, fmt.Errorf("root_partition must be 0 (find it) or a partition number, not %d", c.RootPartition))
	}
	if c.RootVolume != "" {
		if c.RootPartition != 0 {
			errs = append(errs, fmt.Errorf("root_partition and root_volume are both set: give one"))
		}
		if vg, lv, ok := strings.Cut(c.RootVolume, "/"); !ok || vg == "" || lv == "" || strings.ContainsAny(c.RootVolume, "\x00\n") || strings.Count(c.RootVolume, "/") != 1 {
			errs = append(errs, fmt.Errorf("root_volume %q: want a logical volume as vg/lv, such as rhel/root", c.RootVolume))
		}
	}
	if c.RootSubvolume != "" {
		if _, err := chroot.CleanSubvolPath(c.RootSubvolume); err != nil {
			errs = append(errs, fmt.Errorf("root_subvolume: %w", err))
		}
	}
	if c.FstabMounts == nil {
		c.FstabMounts = append([]string(nil), chroot.DefaultFstabMounts...)
	}
	for _, mp := range c.FstabMounts {
		if !filepath.IsAbs(mp) || mp == "/" {
			errs = append(errs, fmt.Errorf("fstab_mounts: %q must be an absolute guest path below /", mp))
		}
	}
	if c.Sandbox == nil {
		c.Sandbox = boolPtr(true)
	}
	if c.SandboxNetwork == nil {
		c.SandboxNetwork = boolPtr(true)
	}
	if c.ChrootMounts == nil && !*c.Sandbox {
		for _, m := range chroot.DefaultChrootMounts {
			c.ChrootMounts = append(c.ChrootMounts, []string{m[0], m[1], m[2]})
		}
	}
	for i, m := range c.ChrootMounts {
		if len(m) != 3 {
			errs = append(errs, fmt.Errorf("chroot_mounts[%d]: want [type, source, guest path], got %d items", i, len(m)))
			continue
		}
		if !filepath.IsAbs(m[2]) || m[2] == "/" || strings.Contains(m[2], "..") {
			errs = append(errs, fmt.Errorf("chroot_mounts[%d]: guest path %q must be absolute, below / and without ..", i, m[2]))
		}
	}
	if c.CopyFiles == nil {
		c.CopyFiles = []string{"/etc/resolv.conf"}
	}
	for _, f := range c.CopyFiles {
		if !filepath.IsAbs(f) {
			errs = append(errs, fmt.Errorf("copy_files: %q must be an absolute path", f))
		}
	}
	return errs
}

func boolPtr(b bool) *bool { return &b }

// GuestPrograms says how provisioners' commands run in the guest.
func (c *ChrootConfig) GuestPrograms() sandbox.Options {
	return sandbox.Options{TrustGuest: c.Sandbox != nil && !*c.Sandbox, Network: c.SandboxNetwork == nil || *c.SandboxNetwork}
}

// Mounts returns the chroot mounts in the engine's form.
func (c *ChrootConfig) Mounts() []chroot.ChrootMount {
	out := make([]chroot.ChrootMount, 0, len(c.ChrootMounts))
	for _, m := range c.ChrootMounts {
		out = append(out, chroot.ChrootMount{m[0], m[1], m[2]})
	}
	return out
}

// FsckMode returns the check to run before each guest filesystem is mounted (see fsck).
func (c *ChrootConfig) FsckMode() chroot.FsckMode {
	if c.fsck == "" {
		return chroot.FsckSkip
	}
	return c.fsck
}

// HostFileMode returns the mode of the host files the build creates (see file_mode); the
// directories holding them get hostfile.DirMode of it.
func (c *ChrootConfig) HostFileMode() os.FileMode {
	if c.fileMode == 0 {
		return hostfile.DefaultFileMode
	}
	return c.fileMode
}
