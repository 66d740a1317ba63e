//go:build linux

package sandbox

import "golang.org/x/sys/unix"

func archTables() []archTable {
	native := archTable{audit: unix.AUDIT_ARCH_X86_64, clone: unix.SYS_CLONE, clone3: unix.SYS_CLONE3, x32: true,
		deny: nativeDeny()}
	native.deny["iopl"], native.deny["ioperm"] = unix.SYS_IOPL, unix.SYS_IOPERM
	// i386 programs (int 0x80) on x86_64: numbers of asm/unistd_32.h.
	compat := archTable{audit: unix.AUDIT_ARCH_I386, clone: 120, clone3: 435,
		deny: map[string]uint32{
			"mount": 21, "umount": 22, "umount2": 52, "pivot_root": 217, "move_mount": 429,
			"open_tree": 428, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
			"mount_setattr": 442, "unshare": 310, "setns": 346, "kexec_load": 283,
			"init_module": 128, "finit_module": 350, "delete_module": 129, "ptrace": 26,
			"process_vm_readv": 347, "process_vm_writev": 348, "pidfd_getfd": 438, "bpf": 357,
			"keyctl": 288, "add_key": 286, "request_key": 287, "perf_event_open": 336,
			"open_by_handle_at": 342, "name_to_handle_at": 341, "swapon": 87, "swapoff": 115,
			"reboot": 88, "acct": 51, "syslog": 103, "quotactl": 131, "lookup_dcookie": 253,
			"userfaultfd": 374, "iopl": 110, "ioperm": 101, "vm86": 166, "vm86old": 113,
		}}
	return []archTable{native, compat}
}
