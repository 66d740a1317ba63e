//go:build linux

package sandbox

import "golang.org/x/sys/unix"

func archTables() []archTable {
	return []archTable{{audit: unix.AUDIT_ARCH_AARCH64, clone: unix.SYS_CLONE, clone3: unix.SYS_CLONE3,
		deny: nativeDeny()}}
}
