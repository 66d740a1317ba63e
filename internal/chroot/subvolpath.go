package chroot

import (
	"fmt"
	"strings"
)

// maxSubvolPath bounds a subvolume path (PATH_MAX less its NUL).
const maxSubvolPath = 4095

// CleanSubvolPath checks a subvolume path taken from the guest (an fstab subvol= value, a
// subvolume name) and returns it relative to the top level: no "..", no NUL or newline, at
// most 4095 bytes; "" is the top level.
func CleanSubvolPath(s string) (string, error) {
	if len(s) > maxSubvolPath {
		return "", fmt.Errorf("subvolume path of %d bytes (at most %d)", len(s), maxSubvolPath)
	}
	if strings.ContainsAny(s, "\x00\n") {
		return "", fmt.Errorf("subvolume path %q holds a NUL or newline", s)
	}
	var parts []string
	for _, c := range strings.Split(s, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("subvolume path %q climbs with \"..\"", s)
		}
		parts = append(parts, c)
	}
	return strings.Join(parts, "/"), nil
}
