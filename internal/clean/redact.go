//go:build linux

package clean

import (
	"path"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Reports leave the guest: they are printed in Packer's output (often a CI log) and written
// to report files. What an edit's diff shows is therefore redacted where it would carry a
// secret, and what a report prints is escaped where a guest-chosen name could drive the
// terminal that shows it.

// secretKey matches a "key: value" (YAML) or "key=value" line whose key names a password,
// whether the line is live, commented out ("#" added by an edit) or a list item: cloud-init's
// passwd, plain_text_passwd and hashed_passwd, chpasswd's password, and the like. Group 1 is
// everything up to the value.
var secretKey = regexp.MustCompile(`(?i)^([\s#-]*(?:[a-z_]*passw(?:or)?d|secret|token|api_?key|private_?key)["']?\s*[:=]\s*)(\S.*)$`)

// notSecret are values a password key holds that say nothing secret (lock_passwd: true).
var notSecret = regexp.MustCompile(`(?i)^(true|false|yes|no|on|off|null|~|""|'')\s*$`)

// inlineSecret matches password fields inside a YAML flow mapping
// ("- {name: root, password: x, type: text}").
var inlineSecret = regexp.MustCompile(`(?i)((?:[a-z_]*passw(?:or)?d|secret|token)["']?\s*:\s*)("[^"]*"|'[^']*'|[^,}\s]+)`)

// chpasswdStart opens cloud-init's chpasswd block, whose list entries are user:password pairs.
var chpasswdStart = regexp.MustCompile(`^([\s#]*)chpasswd\s*:`)

// pairLine is a "user:password" entry of a chpasswd list ("root:secret", "- root:RANDOM").
var pairLine = regexp.MustCompile(`^([\s#-]*[^\s:#{}"']+:)[^\s].*$`)

const redacted = "<redacted>"

// shadowFile reports whether guest path p is a password or group shadow file (or its
// backup): every diff of it is redacted after the first field, whoever edits it.
func shadowFile(p string) bool {
	switch path.Base(p) {
	case "shadow", "shadow-", "gshadow", "gshadow-", "shadow.bak", "gshadow.bak":
		return true
	}
	return false
}

// secretLines returns the lines of a file that are entries of a chpasswd list: inside a
// "chpasswd:" block (every line more indented than it), a line shaped "user:password".
func secretLines(lines []string) map[string]bool {
	out := map[string]bool{}
	in, indent := false, 0
	for _, l := range lines {
		body := strings.TrimLeft(l, "#")
		if m := chpasswdStart.FindStringSubmatch(l); m != nil {
			in, indent = true, len(strings.TrimLeft(m[1], "#"))
			continue
		}
		if !in {
			continue
		}
		trim := strings.TrimSpace(body)
		if trim == "" {
			continue
		}
		if ind := len(body) - len(strings.TrimLeft(body, " \t")); ind <= indent && !strings.HasPrefix(trim, "-") {
			in = false
			continue
		}
		if pairLine.MatchString(strings.TrimSuffix(body, "\r")) {
			out[strings.TrimSpace(body)] = true
		}
	}
	return out
}

// redactLine hides the secret part of one file line (without the diff's "+"/"-").
func redactLine(l string, chpasswd map[string]bool) string {
	if m := secretKey.FindStringSubmatch(l); m != nil {
		if notSecret.MatchString(m[2]) {
			return l
		}
		return m[1] + redacted
	}
	if strings.Contains(l, "{") {
		l = inlineSecret.ReplaceAllStringFunc(l, func(kv string) string {
			m := inlineSecret.FindStringSubmatch(kv)
			if notSecret.MatchString(m[2]) {
				return kv
			}
			return m[1] + redacted
		})
	}
	if chpasswd[strings.TrimSpace(strings.TrimLeft(l, "#"))] {
		if m := pairLine.FindStringSubmatch(strings.TrimLeft(l, "#")); m != nil {
			return l[:len(l)-len(strings.TrimLeft(l, "#"))] + m[1] + redacted
		}
		return redacted
	}
	return l
}

// redactDiff returns diff (lines of "+" and "-" entries) with secrets hidden. before and
// after are the file's lines before and after the edit (to find chpasswd lists). shadow
// redacts every line after its first field.
func redactDiff(diff, before, after []string, shadow bool) []string {
	pairs := secretLines(before)
	for k := range secretLines(after) {
		pairs[k] = true
	}
	out := make([]string, len(diff))
	for i, d := range diff {
		if d == "" {
			continue
		}
		sign, l := d[:1], d[1:]
		if shadow {
			if j := strings.IndexByte(l, ':'); j >= 0 {
				l = l[:j] + ":" + redacted
			}
		} else {
			l = redactLine(l, pairs)
		}
		out[i] = sign + l
	}
	return out
}

// Printable returns s with every control character, invalid UTF-8 byte and bidirectional
// formatting character escaped (\x1b, \n, \u202e...), so a guest-chosen file name or
// os-release field printed in a report shows as what it is and cannot move the cursor, set a
// terminal title or forge a line of output.
func Printable(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || !safeRune(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			b.WriteString(`\x` + hex2(s[i]))
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80 && !safeRune(r):
			b.WriteString(`\x` + hex2(byte(r)))
		case !safeRune(r):
			b.WriteString(`\u` + hex2(byte(r>>8)) + hex2(byte(r)))
		case r == '\\':
			b.WriteString(`\\`)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// safeRune reports whether r prints as itself: not a C0/C1 control, not DEL, not a
// bidirectional override or isolate, not a backslash when escaping is under way.
func safeRune(r rune) bool {
	switch {
	case r < 0x20 || r == 0x7f:
		return false
	case r >= 0x80 && r < 0xa0:
		return false
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return false
	case r == unicode.ReplacementChar:
		return true
	}
	return true
}

func hex2(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&15]})
}
