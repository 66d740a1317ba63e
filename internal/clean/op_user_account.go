//go:build linux

package clean

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"
)

// accountFiles are edited together by user-account; all must be writable before any is.
var accountFiles = []string{"/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow", "/etc/subuid", "/etc/subgid"}

func init() {
	Register(Op{
		Name: "user-account",
		Description: "Remove ordinary user accounts (UID in login.defs UID_MIN..UID_MAX, or only the listed ones) with their homes, " +
			"mail spools, crontabs and sudoers rules, keeping passwd, shadow, group, gshadow, subuid and subgid consistent; root is never touched",
		Default: false,
		Groups:  []string{GroupChromogenic},
		Order:   20,
		Run:     runUserAccount,
	})
}

func runUserAccount(e *Env) error {
	pw, err := e.ReadFile("/etc/passwd")
	if err != nil {
		if isNotExist(err) {
			return nil
		}
		e.FailOrSkip("/etc/passwd", "file", "read", err)
		return nil
	}
	users := parsePasswd(pw)
	keep := map[string]bool{"root": true}
	for _, k := range e.Opts.Users.Keep {
		keep[k] = true
	}
	byName := map[string]passwdEntry{}
	for _, u := range users {
		if _, dup := byName[u.Name]; !dup {
			byName[u.Name] = u
		}
	}
	var victims []passwdEntry
	if len(e.Opts.Users.Remove) > 0 {
		for _, n := range e.Opts.Users.Remove {
			u, ok := byName[n]
			switch {
			case !ok:
				e.Skip("/etc/passwd", "file", fmt.Sprintf("user %q to remove does not exist", n))
			case u.UID == 0 || keep[n]:
				e.Skip("/etc/passwd", "file", fmt.Sprintf("user %q is kept (UID 0 or in the keep list)", n))
			default:
				victims = append(victims, u)
			}
		}
	} else {
		a := e.OS.Accounts
		for _, u := range users {
			if u.UID != 0 && !keep[u.Name] && u.UID >= a.UIDMin && u.UID <= a.UIDMax {
				victims = append(victims, u)
			}
		}
	}
	victims = e.liveFilterVictims(victims)
	if len(victims) == 0 {
		return nil
	}
	del := map[string]bool{}
	delUID := map[string]bool{}
	for _, u := range victims {
		del[u.Name] = true
		delUID[strconv.Itoa(u.UID)] = true
	}
	// Accounts that stay (anything in passwd not removed, including entries that share a
	// removed name's UID).
	stayGID := map[int]bool{}
	stayHome := map[string]bool{}
	for _, u := range users {
		if !del[u.Name] {
			stayGID[u.GID] = true
			stayHome[clean(u.Home)] = true
		}
	}

	// All account files must be writable (regular, single link) before any is changed, so a
	// refusal never leaves them inconsistent.
	for _, p := range accountFiles {
		if !e.Exists(p) {
			continue
		}
		if err := e.wouldWrite(p); err != nil {
			e.Errorf("%s cannot be edited (%v): no account removed", p, err)
			return nil
		}
	}

	// Private groups of removed users (userdel's USERGROUPS_ENAB): same name, the user's
	// primary GID, no remaining user's primary group, no remaining member.
	delGroup := map[string]bool{}
	if gb, err := e.ReadFile("/etc/group"); err == nil {
		for _, l := range splitLines(gb) {
			g := parseGroupLine(l)
			if !g.valid || !del[g.Name] {
				continue
			}
			u := byName[g.Name]
			if g.GID != u.GID || stayGID[g.GID] {
				continue
			}
			others := false
			for _, m := range g.Members {
				if !del[m] {
					others = true
				}
			}
			if !others {
				delGroup[g.Name] = true
			}
		}
	}

	e.EditLines("/etc/passwd", EditOptions{}, func(x *Lines) {
		x.DeleteFunc(func(l string) bool { u := parsePasswdLine(l); return u.valid && del[u.Name] })
	})
	e.EditLines("/etc/shadow", EditOptions{Redact: true}, func(x *Lines) {
		x.DeleteFunc(func(l string) bool { n, _, _ := strings.Cut(l, ":"); return del[n] })
	})
	editGroups(e, "/etc/group", del, delGroup, false)
	editGroups(e, "/etc/gshadow", del, delGroup, true)
	for _, p := range []string{"/etc/subuid", "/etc/subgid"} {
		e.EditLines(p, EditOptions{}, func(x *Lines) {
			x.DeleteFunc(func(l string) bool { n, _, _ := strings.Cut(l, ":"); return del[n] || delUID[n] })
		})
	}
	// sudo rules naming a removed user would grant rights to a future account of that name.
	for _, p := range append([]string{"/etc/sudoers"}, e.Glob("/etc/sudoers.d/*")...) {
		if !e.IsFile(p) {
			continue
		}
		e.EditLines(p, EditOptions{}, func(x *Lines) {
			x.DeleteFunc(func(l string) bool {
				f := strings.Fields(l)
				return len(f) > 1 && !strings.HasPrefix(f[0], "#") && del[f[0]]
			})
		})
	}
	if e.Opts.Users.KeepHomes {
		return nil
	}
	for _, u := range victims {
		removeHome(e, u, stayHome)
		e.RemoveGlob("/var/mail/"+u.Name, "/var/spool/mail/"+u.Name, "/var/spool/cron/crontabs/"+u.Name)
		if fi, err := e.Lstat("/var/spool/cron/" + u.Name); err == nil && !fi.IsDir() {
			e.Remove("/var/spool/cron/" + u.Name)
		}
	}
	return nil
}

// editGroups removes the groups in delGroup and the removed users from member lists (and, in
// gshadow, from administrator lists).
func editGroups(e *Env, p string, del, delGroup map[string]bool, shadow bool) {
	e.EditLines(p, EditOptions{Redact: shadow}, func(x *Lines) {
		x.DeleteFunc(func(l string) bool { g := parseGroupLine(l); return g.valid && delGroup[g.Name] })
		for i, l := range x.L {
			g := parseGroupLine(l)
			if !g.valid {
				continue
			}
			f := append([]string(nil), g.fields...)
			m, ch1 := removeNames(f[3], del)
			f[3] = m
			ch2 := false
			if shadow {
				f[2], ch2 = removeNames(f[2], del)
			}
			if ch1 || ch2 {
				x.Set(i, strings.Join(f, ":"))
			}
		}
	})
}

// removeHome removes the home directory of a removed user when it is safe: not a system
// directory, not shared with a remaining account, and reached without symlinks in its
// parent components (so a crafted path cannot make us remove another guest directory).
func removeHome(e *Env, u passwdEntry, stayHome map[string]bool) {
	if u.Home == "" {
		return
	}
	h := clean(u.Home)
	switch {
	case protectedDir(h):
		e.Skip(h, "dir", fmt.Sprintf("home of %s is a system directory: kept", u.Name))
		return
	case stayHome[h]:
		e.Skip(h, "dir", fmt.Sprintf("home of %s is shared with a remaining account: kept", u.Name))
		return
	}
	for d := path.Dir(h); d != "/"; d = path.Dir(d) {
		fi, err := e.Lstat(d)
		if err != nil {
			return // missing parent: nothing to remove
		}
		if !fi.IsDir() {
			e.Skip(h, "", fmt.Sprintf("home of %s: parent %s is not a real directory (%s): kept", u.Name, d, guestfs.TypeName(fi.Mode())))
			return
		}
	}
	e.Remove(h)
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
