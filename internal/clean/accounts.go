//go:build linux

package clean

import (
	"strconv"
	"strings"
)

// passwdEntry is one line of /etc/passwd.
type passwdEntry struct {
	Name     string
	UID, GID int
	Home     string
	Shell    string
	valid    bool // a well-formed local entry (not "+", "-" NIS lines or junk)
}

func parsePasswdLine(l string) passwdEntry {
	f := strings.Split(l, ":")
	if len(f) != 7 || f[0] == "" || strings.HasPrefix(f[0], "+") || strings.HasPrefix(f[0], "-") || strings.HasPrefix(f[0], "#") {
		return passwdEntry{}
	}
	uid, err1 := strconv.Atoi(f[2])
	gid, err2 := strconv.Atoi(f[3])
	if err1 != nil || err2 != nil || uid < 0 || gid < 0 {
		return passwdEntry{}
	}
	return passwdEntry{Name: f[0], UID: uid, GID: gid, Home: f[5], Shell: f[6], valid: true}
}

func parsePasswd(b []byte) []passwdEntry {
	var out []passwdEntry
	for _, l := range splitLines(b) {
		if e := parsePasswdLine(l); e.valid {
			out = append(out, e)
		}
	}
	return out
}

// groupEntry is one line of /etc/group (or, with the same shape, /etc/gshadow where the third
// field lists administrators instead of the GID).
type groupEntry struct {
	Name    string
	GID     int // -1 when not numeric (gshadow)
	Members []string
	fields  []string
	valid   bool
}

func parseGroupLine(l string) groupEntry {
	f := strings.Split(l, ":")
	if len(f) != 4 || f[0] == "" || strings.HasPrefix(f[0], "+") || strings.HasPrefix(f[0], "-") || strings.HasPrefix(f[0], "#") {
		return groupEntry{}
	}
	gid, err := strconv.Atoi(f[2])
	if err != nil {
		gid = -1
	}
	return groupEntry{Name: f[0], GID: gid, Members: splitList(f[3]), fields: f, valid: true}
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	for _, m := range strings.Split(s, ",") {
		if m = strings.TrimSpace(m); m != "" {
			out = append(out, m)
		}
	}
	return out
}

// removeNames drops the names in del from a comma list, keeping the others in order.
func removeNames(list string, del map[string]bool) (string, bool) {
	if list == "" {
		return list, false
	}
	parts := strings.Split(list, ",")
	out := parts[:0]
	changed := false
	for _, p := range parts {
		if del[strings.TrimSpace(p)] {
			changed = true
			continue
		}
		out = append(out, p)
	}
	return strings.Join(out, ","), changed
}
