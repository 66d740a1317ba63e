//go:build linux

package retarget

import (
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/clean"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/sandbox"
)

// The steps of Run that run guest programs: rebuilding the initramfs and regenerating the
// bootloader configuration.

// guestExec is how guest programs run: exec when given, else in the sandbox, else (trust)
// with plain chroot. custom is false only for plain chroot, which needs the root's
// proc, sys and dev mounts (see chrootReady).
func guestExec(exec Exec, trust bool) (e Exec, custom bool) {
	if exec != nil {
		return exec, true
	}
	return sandbox.Options{TrustGuest: trust}.Output, !trust
}

// findProgram returns the guest path of the first of names found in the usual directories.
func (c *converter) findProgram(names ...string) string {
	for _, n := range names {
		for _, d := range []string{"/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"} {
			if c.e.IsFile(d + n) {
				return d + n
			}
		}
	}
	return ""
}

// run runs a guest program (dry run: only records it) and records the outcome. It returns
// false when the program failed (the error is recorded unless quiet).
func (c *converter) run(argv []string, quiet bool) (string, bool) {
	e := c.e
	ch := clean.Change{Action: Ran, Path: argv[0], Reason: strings.Join(argv[1:], " ")}
	if e.DryRun() {
		ch.Reason += " (dry run: not run)"
		e.Record(ch)
		return "", true
	}
	if e.Opts.Logf != nil {
		e.Opts.Logf("convert: running %s in the guest root", clean.Printable(strings.Join(argv, " ")))
	}
	start := time.Now()
	out, err := c.exec(e.Context(), e.Root.Dir(), argv)
	took := time.Since(start).Round(time.Millisecond)
	if err != nil {
		ch.Reason += fmt.Sprintf(": failed after %s: %v", took, err)
		e.Record(ch)
		if !quiet {
			e.Errorf("%s %s: %v\n%s", argv[0], strings.Join(argv[1:], " "), err, lastLines(string(out), 20))
		}
		return string(out), false
	}
	ch.Reason += fmt.Sprintf(": ok in %s", took)
	e.Record(ch)
	return string(out), true
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// chrootReady returns why guest programs cannot run in the root ("" when they can).
func (c *converter) chrootReady() string {
	if mp, err := c.e.Root.IsMountPoint("/proc"); err != nil || !mp {
		return "/proc is not mounted in the guest root"
	}
	if mp, err := c.e.Root.IsMountPoint("/sys"); err != nil || !mp {
		return "/sys is not mounted in the guest root"
	}
	if fi, err := c.e.Root.Stat("/dev/null"); err != nil || fi.Mode()&fs.ModeCharDevice == 0 {
		return "/dev is not mounted in the guest root"
	}
	return ""
}

// rebuildInitramfs rebuilds the initramfs of every kernel the target can boot with the guest's
// own tool, inside the guest root, keeping the old one as *.pre-chromogenic.
func (c *converter) rebuildInitramfs() error {
	e := c.e
	if c.kmods == nil {
		return fmt.Errorf("not rebuilt: the initramfs configuration step failed")
	}
	if !e.DryRun() && !c.customExec {
		if why := c.chrootReady(); why != "" {
			return fmt.Errorf("cannot run the guest's initramfs tool: %s (mount proc, sys and dev, as chroot_mounts does)", why)
		}
	}
	tool := e.OS.InitramfsTool
	prog := c.findProgram(tool)
	if prog == "" {
		return fmt.Errorf("initramfs tool %q not found in the guest", tool)
	}
	suse := e.IsFile("/etc/sysconfig/kernel") && e.OS.Family == "suse"
	for _, k := range e.OS.Kernels {
		switch {
		case k.Xen:
			e.Skip(k.Image, "file", "Xen-only kernel flavour: its initramfs is left alone")
			continue
		case !k.Modules:
			e.Skip(k.Image, "file", "no /lib/modules/"+k.Version+": initramfs not rebuilt")
			continue
		}
		set := c.kmods[k.Version]
		var mods []string
		for _, m := range c.mods {
			if set[m] {
				mods = append(mods, m)
			}
		}
		initrd := k.Initramfs
		exists := initrd != ""
		if !exists {
			switch {
			case tool == "update-initramfs":
				initrd = "/boot/initrd.img-" + k.Version
			case tool == "dracut":
				initrd = "/boot/initramfs-" + k.Version + ".img"
			case suse:
				initrd = "/boot/initrd-" + k.Version
			default:
				initrd = "/boot/initrd-" + k.Version + ".img"
			}
		} else {
			backup := initrd + BackupSuffix
			if e.Exists(backup) {
				e.Skip(backup, "file", "kept from an earlier conversion: not overwritten")
			} else if !e.CopyFile(initrd, backup) {
				e.Errorf("%s: not rebuilt, the old initramfs could not be kept", k.Version)
				continue
			}
		}
		var argv []string
		switch {
		case tool == "update-initramfs" && exists:
			argv = []string{prog, "-u", "-k", k.Version}
		case tool == "update-initramfs":
			argv = []string{prog, "-c", "-k", k.Version}
		case tool == "dracut":
			argv = []string{prog, "-f"}
			if len(mods) > 0 {
				argv = append(argv, "--add-drivers", strings.Join(mods, " "))
			}
			argv = append(argv, initrd, k.Version)
		case suse:
			argv = []string{prog, "-k", k.Image, "-i", initrd}
		default: // Red Hat's mkinitrd
			argv = []string{prog, "-f"}
			for _, m := range mods {
				argv = append(argv, "--with="+m)
			}
			argv = append(argv, initrd, k.Version)
		}
		if _, ok := c.run(argv, false); !ok || e.DryRun() {
			continue
		}
		if fi, err := e.Root.Stat(initrd); err != nil || fi.Size() == 0 {
			e.Errorf("%s: %s ran but %s is missing or empty", k.Version, tool, initrd)
		}
	}
	return nil
}

// regenerateBootloader regenerates grub.cfg with the guest's grub-mkconfig (or update-grub).
// Without such a tool, or when it fails, the configuration keeps the in-place edits of the
// console and block-devices steps.
func (c *converter) regenerateBootloader() error {
	e := c.e
	if e.OS.Bootloader != "grub2" || e.OS.BootloaderConfig == "" {
		bl := e.OS.Bootloader
		if bl == "" {
			bl = "no known bootloader"
		}
		c.notApplicable(bl + ": no configuration generator, configuration edited in place")
		return nil
	}
	cfg := e.OS.BootloaderConfig
	var argv []string
	if p := c.findProgram("update-grub"); p != "" && strings.HasPrefix(cfg, "/boot/grub/") {
		argv = []string{p}
	} else if p := c.findProgram("grub2-mkconfig", "grub-mkconfig"); p != "" {
		argv = []string{p, "-o", cfg}
	} else {
		c.notApplicable("no grub-mkconfig in the guest: " + cfg + " edited in place")
		return nil
	}
	if !e.DryRun() && !c.customExec {
		if why := c.chrootReady(); why != "" {
			e.Skip(cfg, "file", "not regenerated ("+why+"): edited in place")
			return nil
		}
	}
	backup := cfg + BackupSuffix
	if !e.Exists(backup) {
		e.CopyFile(cfg, backup)
	}
	if out, ok := c.run(argv, true); !ok {
		// The in-place edits stand; grub-mkconfig often cannot probe loop devices.
		e.Skip(cfg, "file", "regeneration failed, the in-place edits stand: "+lastLines(out, 3))
		if !e.DryRun() && e.Exists(backup) {
			// grub-mkconfig writes to a temporary file first, but be sure cfg is whole.
			if fi, err := e.Root.Stat(cfg); err != nil || fi.Size() == 0 {
				if err := e.Root.Rename(backup, cfg); err != nil {
					e.Errorf("restore %s: %v", cfg, err)
				}
			}
		}
	}
	return nil
}

// notApplicable marks the current step not applicable (Run's per-step reports only; inside
// the xen-to-kvm op the op as a whole stays done).
func (c *converter) notApplicable(why string) {
	if c.steps {
		c.e.MarkNotApplicable(why)
	}
}
