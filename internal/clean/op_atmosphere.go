//go:build linux

package clean

import (
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// The Atmosphere/CyVerse cleaning of the original chromogenic (its 0.5 virt-sysprep command
// file plus the legacy remove_user_data/remove_atmo_data/remove_vm_specific_data steps), as
// line-exact edits: whole lines are deleted or replaced, never joined, and anchored patterns
// match the real lines (the original's HWADDR regex matched nothing, its Perl block deletions
// ate the surrounding newlines). Not carried over: setting root's password to "atmosphere",
// SSH key and denyhosts injection, package installs and removals (they need guest binaries),
// "rm -rf /root/*" and creating /etc/syslinux/selinux.

var (
	atmoStart  = regexp.MustCompile(`^\s*#+\s*Atmosphere System\s*$`)
	atmoEnd    = regexp.MustCompile(`^\s*#+\s*End Atmosphere System\s*$`)
	nagiosOpen = regexp.MustCompile(`^\s*#+\s*Begin Nagios\s*$`)
	nagiosEnd  = regexp.MustCompile(`^\s*#+\s*End Nagios\s*$`)
	sensuOpen  = regexp.MustCompile(`^\s*#+\s*Begin Sensu\s*$`)
	sensuEnd   = regexp.MustCompile(`^\s*#+\s*End Sensu\s*$`)

	includedir   = regexp.MustCompile(`^\s*([#@])includedir\s+/etc/sudoers\.d(/|\s|$)`)
	allowGroups  = regexp.MustCompile(`^\s*AllowGroups\s+users\s+root(\s|$)`)
	usersGroup   = regexp.MustCompile(`^users:([^:]*):100:(.*)$`)
	userGroup    = regexp.MustCompile(`^[^:#]+:[^:]*:1[0-9]{3}:$`)
	fstabExtra   = regexp.MustCompile(`^/dev/(sda([2-9]|1[0-9])|vd[b-z][0-9]*)$`)
	macLine      = regexp.MustCompile(`^\s*(export\s+)?(HWADDR|MACADDR)\s*=`)
	selinuxLine  = regexp.MustCompile(`^\s*SELINUX\s*=`)
	cloudUsers   = regexp.MustCompile(`^users\s*:`)
	disableRoot  = regexp.MustCompile(`^(\s*disable_root\s*:\s*)(true|True|TRUE|1)(\s*(#.*)?)$`)
	sshDeleteKey = regexp.MustCompile(`^(\s*ssh_deletekeys\s*:\s*)(true|True|TRUE|1)(\s*(#.*)?)$`)
	vncLine      = regexp.MustCompile(`vncserver\s*$`)
)

func init() {
	Register(Op{
		Name: "atmosphere",
		Description: "Remove Atmosphere/CyVerse data and configuration (the original chromogenic's list): atmo files and logs, " +
			"Atmosphere/Nagios/Sensu blocks in sudoers, sshd_config and skel .bashrc, AllowGroups, users group members, " +
			"empty 1xxx groups, extra-disk fstab lines, ifcfg HWADDR/MACADDR, SELinux disabled, cloud.cfg default user, " +
			"rc.local vncserver/shellinabox/atmo_boot lines, udev net rules, /mnt and /proc contents",
		Default:   false,
		Groups:    []string{GroupChromogenic},
		AppliesTo: "all Linux guests (the edits only match Atmosphere images)",
		Order:     10,
		Run:       runAtmosphere,
	})
}

// deleteBlocks deletes the blocks from a start line to an end line (both included); a block
// without an end runs to the end of the file (the legacy behaviour). It returns the count.
func deleteBlocks(x *Lines, start, end *regexp.Regexp) int {
	n := 0
	for i := 0; i < len(x.L); {
		if !start.MatchString(x.L[i]) {
			i++
			continue
		}
		j := i + 1
		for j < len(x.L) && !end.MatchString(x.L[j]) {
			j++
		}
		if j == len(x.L) {
			j--
		}
		for k := j; k >= i; k-- {
			x.Delete(i)
		}
		n++
	}
	return n
}

func runAtmosphere(e *Env) error {
	// Files and directories.
	e.RemoveGlob("/var/log/atmo", "/etc/rc.local.atmo", "/opt/cyverse", "/usr/sbin/atmo_boot.py",
		"/var/lib/puppet/run/*.pid", "/etc/puppet/ssl", "/root/.ssh", "/var/log/puppet")

	// sudoers: the three blocks, then nothing after the includedir line.
	e.EditLines("/etc/sudoers", EditOptions{}, func(x *Lines) {
		deleteBlocks(x, atmoStart, atmoEnd)
		deleteBlocks(x, nagiosOpen, nagiosEnd)
		deleteBlocks(x, sensuOpen, sensuEnd)
		for i, l := range x.L {
			m := includedir.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			x.Set(i, m[1]+"includedir /etc/sudoers.d")
			for len(x.L) > i+1 {
				x.Delete(i + 1)
			}
			break
		}
	})
	// sshd_config: AllowGroups users root..., Atmosphere block.
	e.EditLines("/etc/ssh/sshd_config", EditOptions{}, func(x *Lines) {
		x.DeleteFunc(allowGroups.MatchString)
		deleteBlocks(x, atmoStart, atmoEnd)
	})
	e.EditLines("/etc/skel/.bashrc", EditOptions{}, func(x *Lines) { deleteBlocks(x, atmoStart, atmoEnd) })

	// /etc/group: no members in "users"; member-less groups with GID 1000-1999 go unless they
	// are still some account's primary group (then gshadow follows).
	primary := map[string]bool{}
	if b, err := e.ReadFile("/etc/passwd"); err == nil {
		for _, u := range parsePasswd(b) {
			primary[itoa(u.GID)] = true
		}
	}
	dropped := map[string]bool{}
	e.EditLines("/etc/group", EditOptions{}, func(x *Lines) {
		for i, l := range x.L {
			if m := usersGroup.FindStringSubmatch(l); m != nil && m[2] != "" {
				x.Set(i, "users:"+m[1]+":100:")
			}
		}
		x.DeleteFunc(func(l string) bool {
			if !userGroup.MatchString(l) {
				return false
			}
			g := parseGroupLine(l)
			if !g.valid || primary[itoa(g.GID)] {
				return false
			}
			dropped[g.Name] = true
			return true
		})
	})
	if len(dropped) > 0 {
		e.EditLines("/etc/gshadow", EditOptions{Redact: true}, func(x *Lines) {
			x.DeleteFunc(func(l string) bool { n, _, _ := strings.Cut(l, ":"); return dropped[n] })
		})
	}
	// The "users" group in gshadow loses its members too.
	e.EditLines("/etc/gshadow", EditOptions{Redact: true}, func(x *Lines) {
		for i, l := range x.L {
			f := strings.Split(l, ":")
			if len(f) == 4 && f[0] == "users" && f[3] != "" {
				f[3] = ""
				x.Set(i, strings.Join(f, ":"))
			}
		}
	})

	// fstab: only the root disk stays (device field /dev/sda2-19, /dev/vdb-z*).
	e.EditLines("/etc/fstab", EditOptions{}, func(x *Lines) {
		x.DeleteFunc(func(l string) bool {
			f := strings.Fields(l)
			return len(f) > 0 && fstabExtra.MatchString(f[0])
		})
	})
	// ifcfg: HWADDR/MACADDR lines (all interfaces, not only eth0).
	for _, p := range e.Glob("/etc/sysconfig/network-scripts/ifcfg-*") {
		e.EditLines(p, EditOptions{}, func(x *Lines) { x.DeleteFunc(macLine.MatchString) })
	}
	// SELinux disabled (only an existing config is edited).
	e.EditLines("/etc/selinux/config", EditOptions{}, func(x *Lines) {
		for i, l := range x.L {
			if selinuxLine.MatchString(l) {
				x.Set(i, "SELINUX=disabled")
			}
		}
	})
	// cloud.cfg: no default user (the whole top-level users: block is commented, so the YAML
	// stays valid), root login allowed, keys kept.
	e.EditLines("/etc/cloud/cloud.cfg", EditOptions{}, func(x *Lines) {
		in := false
		for i, l := range x.L {
			switch {
			case cloudUsers.MatchString(l):
				in = true
				x.Set(i, "#"+l)
			case in && (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "-") || strings.HasPrefix(l, "\t") || strings.HasPrefix(l, "#") || strings.TrimSpace(l) == ""):
				if strings.TrimSpace(l) != "" && !strings.HasPrefix(l, "#") {
					x.Set(i, "#"+l)
				}
			default:
				in = false
			}
			if m := disableRoot.FindStringSubmatch(x.L[i]); m != nil {
				x.Set(i, m[1]+falseOf(m[2])+m[3])
			}
			if m := sshDeleteKey.FindStringSubmatch(x.L[i]); m != nil {
				x.Set(i, m[1]+falseOf(m[2])+m[3])
			}
		}
	})
	// rc.local (either name, edited once if both are the same file).
	seen := map[[2]uint64]bool{}
	for _, p := range []string{"/etc/rc.local", "/etc/rc.d/rc.local"} {
		fi, err := e.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			id := [2]uint64{uint64(st.Dev), st.Ino}
			if seen[id] {
				continue
			}
			seen[id] = true
		}
		e.EditLines(p, EditOptions{}, func(x *Lines) {
			// Xen-era block: from "depmod -a" to the atmo_boot call.
			for i := 0; i < len(x.L); i++ {
				if strings.TrimSpace(x.L[i]) != "depmod -a" {
					continue
				}
				for j := i + 1; j < len(x.L); j++ {
					if strings.Contains(x.L[j], "/usr/sbin/atmo_boot") {
						for k := j; k >= i; k-- {
							x.Delete(i)
						}
						break
					}
				}
			}
			x.DeleteFunc(func(l string) bool {
				return vncLine.MatchString(l) || strings.Contains(l, "shellinabox") || strings.Contains(l, "atmo_boot")
			})
		})
	}
	// udev: persistent net rules emptied (kept as files, like the original).
	e.TruncateGlob("/etc/udev/rules.d/70-persistent-net.rules", "/lib/udev/rules.d/75-persistent-net-generator.rules")
	// /mnt and /proc contents (mount points below them are never entered).
	e.RemoveContents("/mnt")
	e.RemoveContents("/proc")
	return nil
}

func falseOf(v string) string {
	if v == "1" {
		return "0"
	}
	return "false"
}

func itoa(i int) string { return strconv.Itoa(i) }
