//go:build linux

package retarget

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"
	"syscall"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/clean"
)

// The file-editing steps of Run.

var (
	// xenConsoleWordRE finds a Xen console device name as a word.
	xenConsoleWordRE = regexp.MustCompile(`\b(?:hvc|xvc)[0-9]+\b`)
	// xenConsoleRE is a whole Xen console device name.
	xenConsoleRE = regexp.MustCompile(`^(?:hvc|xvc)[0-9]+$`)
	// xenDiskRE is a Xen virtual disk device path: disk letters and an optional partition.
	xenDiskRE = regexp.MustCompile(`^/dev/xvd([a-z]+)([0-9]*)$`)
	// cmdTokenRE splits kernel command lines (and the shell-quoted values holding them).
	cmdTokenRE = regexp.MustCompile(`[^\s"']+`)
	// fieldRE splits whitespace-separated fields (fstab, crypttab, modprobe).
	fieldRE = regexp.MustCompile(`\S+`)
	// cmdlineLineRE recognises the lines of bootloader configurations holding a kernel
	// command line: extlinux APPEND, grub linux/kernel, BLS options, /etc/default/grub
	// GRUB_CMDLINE_*, Debian grub-legacy "# kopt=".
	cmdlineLineRE = regexp.MustCompile(`(?i)^\s*(?:append|linux|linux16|linuxefi|kernel|options)\s|^\s*GRUB_CMDLINE_[A-Z_]*=|^#\s*kopt=`)
)

// bootConfigPatterns are the guest files that may hold kernel command lines.
var bootConfigPatterns = []string{
	"/etc/default/grub",
	"/etc/default/grub.d/*.cfg",
	"/boot/grub/grub.cfg", "/boot/grub2/grub.cfg", "/boot/efi/EFI/*/grub.cfg",
	"/boot/grub/menu.lst", "/boot/grub/grub.conf", "/etc/grub.conf",
	"/boot/extlinux/extlinux.conf", "/boot/extlinux.conf", "/extlinux.conf",
	"/boot/syslinux/syslinux.cfg", "/boot/syslinux/extlinux.conf",
	"/boot/loader/entries/*.conf", "/boot/efi/loader/entries/*.conf",
	"/etc/kernel/cmdline",
}

// bootConfigs returns the existing bootloader files, each real file once.
func (c *converter) bootConfigs() []string {
	var out []string
	seen := map[[2]uint64]bool{}
	for _, p := range c.e.Glob(bootConfigPatterns...) {
		fi, err := c.e.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if id, ok := fileID(fi); ok {
			if seen[id] {
				continue
			}
			seen[id] = true
		}
		out = append(out, p)
	}
	return out
}

func fileID(fi fs.FileInfo) ([2]uint64, bool) {
	s, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return [2]uint64{}, false
	}
	return [2]uint64{uint64(s.Dev), s.Ino}, true
}

// editCmdlines applies fn to every token of every kernel command line of the bootloader files.
// fn returns the new token, or "" to delete it; line is the whole line (for context).
func (c *converter) editCmdlines(fn func(tok, line string) string) {
	for _, p := range c.bootConfigs() {
		all := p == "/etc/kernel/cmdline"
		c.e.EditLines(p, clean.EditOptions{}, func(x *clean.Lines) {
			for i, l := range x.L {
				if all || cmdlineLineRE.MatchString(l) {
					x.Set(i, rewriteTokens(l, func(tok string) string { return fn(tok, l) }))
				}
			}
		})
	}
}

// rewriteTokens rewrites the command-line tokens of line with fn ("" deletes a token along with
// one neighbouring blank, so no double blanks are left).
func rewriteTokens(line string, fn func(tok string) string) string {
	var b strings.Builder
	last := 0
	for _, m := range cmdTokenRE.FindAllStringIndex(line, -1) {
		tok := line[m[0]:m[1]]
		nt := fn(tok)
		if nt == tok {
			continue
		}
		start, end := m[0], m[1]
		if nt == "" {
			switch {
			case start > last && isBlank(line[start-1]):
				start--
			case end < len(line) && isBlank(line[end]):
				end++
			}
		}
		b.WriteString(line[last:start])
		b.WriteString(nt)
		last = end
	}
	if last == 0 {
		return line
	}
	b.WriteString(line[last:])
	return b.String()
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// replaceField replaces whitespace-separated field n (0-based) of line, keeping the spacing.
func replaceField(line string, n int, val string) string {
	m := fieldRE.FindAllStringIndex(line, n+1)
	if len(m) <= n {
		return line
	}
	return line[:m[n][0]] + val + line[m[n][1]:]
}

// Device name forms for mapDevice.
const (
	formSpec = iota // where fstab/kernel specs are accepted: UUID=..., LABEL=...
	formPath        // where only a path is accepted: /dev/disk/by-uuid/...
)

// mapDevice returns what replaces the Xen device path dev, and whether it changes.
func (c *converter) mapDevice(dev string, form int) (string, bool) {
	if spec, ok := c.opts.Devices[dev]; ok && spec != "" {
		if form == formPath {
			k, v, ok := strings.Cut(spec, "=")
			by := map[string]string{"UUID": "by-uuid", "LABEL": "by-label", "PARTUUID": "by-partuuid", "PARTLABEL": "by-partlabel"}[strings.ToUpper(k)]
			if ok && by != "" {
				return "/dev/disk/" + by + "/" + v, true
			}
		}
		return spec, spec != dev
	}
	m := xenDiskRE.FindStringSubmatch(dev)
	if m == nil || c.spec.diskPrefix == "" {
		return dev, false
	}
	return "/dev/" + c.spec.diskPrefix + m[1] + m[2], true
}

// isComment reports whether a config line is blank or a comment.
func isComment(l string) bool {
	t := strings.TrimSpace(l)
	return t == "" || t[0] == '#'
}

// console: Xen consoles to the target's serial console.
func (c *converter) console() error {
	e, con := c.e, c.spec.console

	// sysvinit: gettys on hvc0/xvc0 move to the serial console, or are commented out when
	// the serial console has a getty already.
	e.EditLines("/etc/inittab", clean.EditOptions{}, func(x *clean.Lines) {
		has := false
		for _, l := range x.L {
			if !isComment(l) && regexp.MustCompile(`\b`+con+`\b`).MatchString(l) {
				has = true
			}
		}
		for i, l := range x.L {
			if isComment(l) || !xenConsoleWordRE.MatchString(l) {
				continue
			}
			if has {
				x.Set(i, "#"+l)
				continue
			}
			x.Set(i, xenConsoleWordRE.ReplaceAllString(l, con))
			has = true
		}
	})

	// systemd: enabled getty units of Xen consoles go; the serial console's is enabled.
	units := e.Glob("/etc/systemd/system/*.wants/serial-getty@hvc*.service", "/etc/systemd/system/*.wants/serial-getty@xvc*.service",
		"/etc/systemd/system/*.wants/getty@hvc*.service", "/etc/systemd/system/*.wants/getty@xvc*.service")
	for _, u := range units {
		e.Remove(u)
	}
	if len(units) > 0 {
		tmpl := ""
		for _, p := range []string{"/lib/systemd/system/serial-getty@.service", "/usr/lib/systemd/system/serial-getty@.service"} {
			if e.IsFile(p) {
				tmpl = p
				break
			}
		}
		if tmpl == "" {
			e.Errorf("no serial-getty@.service unit in the guest: cannot enable a getty on %s", con)
		} else {
			c.e.Symlink("/etc/systemd/system/getty.target.wants/serial-getty@"+con+".service", tmpl)
		}
	}

	// upstart: a job for the serial console replaces the Xen console's.
	for _, job := range e.Glob("/etc/init/hvc[0-9]*.conf", "/etc/init/xvc[0-9]*.conf") {
		b, err := e.ReadFile(job)
		if err != nil {
			e.FailOrSkip(job, "file", "read", err)
			continue
		}
		e.CreateFile("/etc/init/"+con+".conf", []byte(xenConsoleWordRE.ReplaceAllString(string(b), con)), 0o644)
		e.Remove(job)
	}

	// root logins on the serial console, where the Xen console had them.
	e.EditLines("/etc/securetty", clean.EditOptions{}, func(x *clean.Lines) {
		xen, has := false, false
		for _, l := range x.L {
			t := strings.TrimSpace(l)
			xen = xen || xenConsoleRE.MatchString(t)
			has = has || t == con
		}
		if xen && !has {
			x.Append(con)
		}
	})

	// kernel command lines: console=hvc0 becomes console=ttyS0 (dropped when the line names
	// the serial console already); xencons= goes.
	c.editCmdlines(func(tok, line string) string {
		k, v, ok := strings.Cut(tok, "=")
		if !ok {
			return tok
		}
		switch k {
		case "xencons":
			return ""
		case "console":
			dev, _, _ := strings.Cut(v, ",")
			if !xenConsoleRE.MatchString(dev) {
				return tok
			}
			for _, t := range cmdTokenRE.FindAllString(line, -1) {
				if t == "console="+con || strings.HasPrefix(t, "console="+con+",") {
					return ""
				}
			}
			return "console=" + con + ",115200"
		}
		return tok
	})
	return nil
}

// blockDevices: Xen disk names in fstab, crypttab and kernel command lines.
func (c *converter) blockDevices() error {
	e := c.e
	editField := func(file string, field int) {
		e.EditLines(file, clean.EditOptions{}, func(x *clean.Lines) {
			for i, l := range x.L {
				if isComment(l) {
					continue
				}
				f := strings.Fields(l)
				if len(f) <= field {
					continue
				}
				if nv, ok := c.mapDevice(f[field], formSpec); ok {
					x.Set(i, replaceField(l, field, nv))
				}
			}
		})
	}
	editField("/etc/fstab", 0)
	editField("/etc/crypttab", 1)

	c.editCmdlines(func(tok, _ string) string {
		if k, v, ok := strings.Cut(tok, "="); ok {
			if nv, ok := c.mapDevice(v, formSpec); ok {
				return k + "=" + nv
			}
			return tok
		}
		if nv, ok := c.mapDevice(tok, formPath); ok {
			return nv
		}
		return tok
	})

	// Device caches naming the old disks: LVM's devices file and cache, blkid's cache.
	for _, p := range []string{"/etc/lvm/devices/system.devices", "/etc/lvm/cache/.cache", "/etc/blkid/blkid.tab", "/etc/blkid.tab"} {
		if fi, err := e.Lstat(p); err == nil && fi.Mode().IsRegular() {
			e.Remove(p)
		}
	}
	return nil
}

// Xen driver names, normalised (dashes as underscores).
var (
	xenBlockDrivers = map[string]bool{"xenblk": true, "xen_blkfront": true, "xen_vbd": true}
	xenNetDrivers   = map[string]bool{"xennet": true, "xen_netfront": true, "xen_vnif": true}
)

func normMod(m string) string { return strings.ReplaceAll(m, "-", "_") }

func isXenModule(m string) bool { return strings.HasPrefix(normMod(m), "xen") }

// modprobe: aliases of Xen drivers point at the target's.
func (c *converter) modprobe() error {
	e := c.e
	files := append([]string{"/etc/modprobe.conf", "/etc/modules.conf", "/etc/conf.modules"}, e.Glob("/etc/modprobe.d/*.conf")...)
	for _, p := range files {
		if !e.IsFile(p) {
			continue
		}
		e.EditLines(p, clean.EditOptions{}, func(x *clean.Lines) {
			for i, l := range x.L {
				f := strings.Fields(l)
				if isComment(l) || len(f) < 3 || f[0] != "alias" {
					continue
				}
				switch m := normMod(f[2]); {
				case xenBlockDrivers[m] && c.spec.blockAlias != "":
					x.Set(i, replaceField(l, 2, c.spec.blockAlias))
				case xenNetDrivers[m] && c.spec.netAlias != "":
					x.Set(i, replaceField(l, 2, c.spec.netAlias))
				}
			}
		})
	}
	return nil
}

// kernelModules returns, per kernel version the conversion works on, the normalised names of
// its modules (loadable and built in).
func (c *converter) kernelModules() (map[string]map[string]bool, error) {
	e := c.e
	out := map[string]map[string]bool{}
	for _, k := range e.OS.Kernels {
		if k.Xen || !k.Modules {
			continue
		}
		set := map[string]bool{}
		dir := "/lib/modules/" + k.Version
		for _, idx := range []string{"modules.dep", "modules.builtin"} {
			b, err := e.ReadFile(dir + "/" + idx)
			if err != nil {
				if !errors.Is(err, fs.ErrNotExist) {
					e.Errorf("read %s/%s: %v", dir, idx, err)
				}
				continue
			}
			for _, line := range strings.Split(string(b), "\n") {
				f, _, _ := strings.Cut(line, ":")
				base := path.Base(strings.TrimSpace(f))
				if i := strings.Index(base, ".ko"); i > 0 {
					set[normMod(base[:i])] = true
				}
			}
		}
		out[k.Version] = set
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no kernel the target can boot: every kernel in /boot is a Xen-only flavour or has no /lib/modules (install a generic kernel first)")
	}
	return out, nil
}

// initramfsConfig lists the target's drivers for the guest's initramfs tool and drops Xen ones.
func (c *converter) initramfsConfig() error {
	e := c.e
	kmods, err := c.kernelModules()
	if err != nil {
		return err
	}
	found := false
	for _, set := range kmods {
		for _, r := range c.spec.required {
			found = found || set[r]
		}
	}
	if !found {
		return fmt.Errorf("none of the guest's kernels has %s: install a kernel with the %s drivers first", strings.Join(c.spec.required, " or "), c.spec.name)
	}
	c.kmods, c.mods = kmods, nil
	for _, m := range c.spec.modules {
		ok := false
		for _, set := range kmods {
			ok = ok || set[m]
		}
		if ok {
			c.mods = append(c.mods, m)
		}
	}
	changed := false
	// SUSE and old Red Hat keep initrd module lists in /etc/sysconfig/kernel.
	changed = c.editSysconfigKernel() || changed

	switch tool := e.OS.InitramfsTool; tool {
	case "update-initramfs":
		changed = e.EditLines("/etc/initramfs-tools/modules", clean.EditOptions{Create: true, Perm: 0o644}, func(x *clean.Lines) {
			have := map[string]bool{}
			if c.spec.dropXen {
				x.DeleteFunc(func(l string) bool {
					f := strings.Fields(l)
					return !isComment(l) && len(f) > 0 && isXenModule(f[0])
				})
			}
			for _, l := range x.L {
				if f := strings.Fields(l); !isComment(l) && len(f) > 0 {
					have[normMod(f[0])] = true
				}
			}
			for _, m := range c.mods {
				if !have[m] {
					x.Append(m)
				}
			}
		}) || changed
	case "dracut":
		conf := "/etc/dracut.conf.d/90-chromogenic-" + c.spec.name + ".conf"
		want := []string{"# Drivers for the " + c.spec.name + " target, added by chromogenic.",
			`add_drivers+=" ` + strings.Join(c.mods, " ") + ` "`}
		changed = e.EditLines(conf, clean.EditOptions{Create: true, Perm: 0o644}, func(x *clean.Lines) {
			if strings.Join(x.L, "\n") == strings.Join(want, "\n") {
				return
			}
			for len(x.L) > 0 {
				x.Delete(0)
			}
			for _, l := range want {
				x.Append(l)
			}
		}) || changed
	case "mkinitrd":
		// The modules are passed on mkinitrd's command line (and SUSE's list above).
	case "":
		return fmt.Errorf("no initramfs tool (update-initramfs, dracut, mkinitrd) found in the guest")
	default:
		return fmt.Errorf("initramfs tool %s is not supported yet", tool)
	}
	c.modCfg = changed
	return nil
}

// editSysconfigKernel edits INITRD_MODULES and DOMU_INITRD_MODULES of /etc/sysconfig/kernel:
// Xen drivers out (when the target drops them), the target's drivers into INITRD_MODULES.
func (c *converter) editSysconfigKernel() bool {
	if !c.e.IsFile("/etc/sysconfig/kernel") {
		return false
	}
	re := regexp.MustCompile(`^(\s*)(INITRD_MODULES|DOMU_INITRD_MODULES)=(["']?)([^"']*)(["']?)\s*$`)
	return c.e.EditLines("/etc/sysconfig/kernel", clean.EditOptions{}, func(x *clean.Lines) {
		for i, l := range x.L {
			m := re.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			var mods []string
			have := map[string]bool{}
			for _, f := range strings.Fields(m[4]) {
				if c.spec.dropXen && isXenModule(f) {
					continue
				}
				have[normMod(f)] = true
				mods = append(mods, f)
			}
			if m[2] == "INITRD_MODULES" {
				for _, mod := range c.mods {
					if !have[mod] {
						mods = append(mods, mod)
					}
				}
			}
			q := m[3]
			if q == "" {
				q = `"`
			}
			x.Set(i, m[1]+m[2]+"="+q+strings.Join(mods, " ")+q)
		}
	})
}
