package sandbox

import "golang.org/x/sys/unix"

func archTables() []archTable {
	native := archTable{audit: unix.AUDIT_ARCH_X86_64, clone: unix.SYS_CLONE, clone3: unix.SYS_CLONE3, x32: true,
		deny: map[string]uint32{
			"mount": unix.SYS_MOUNT, "umount2": unix.SYS_UMOUNT2, "pivot_root": unix.SYS_PIVOT_ROOT,
			"move_mount": unix.SYS_MOVE_MOUNT, "open_tree": unix.SYS_OPEN_TREE, "fsopen": unix.SYS_FSOPEN,
			"fsconfig": unix.SYS_FSCONFIG, "fsmount": unix.SYS_FSMOUNT, "fspick": unix.SYS_FSPICK,
			"mount_setattr": unix.SYS_MOUNT_SETATTR, "unshare": unix.SYS_UNSHARE, "setns": unix.SYS_SETNS,
			"kexec_load": unix.SYS_KEXEC_LOAD, "kexec_file_load": unix.SYS_KEXEC_FILE_LOAD,
			"init_module": unix.SYS_INIT_MODULE, "finit_module": unix.SYS_FINIT_MODULE,
			"delete_module": unix.SYS_DELETE_MODULE, "ptrace": unix.SYS_PTRACE,
			"process_vm_readv": unix.SYS_PROCESS_VM_READV, "process_vm_writev": unix.SYS_PROCESS_VM_WRITEV,
			"pidfd_getfd": unix.SYS_PIDFD_GETFD, "bpf": unix.SYS_BPF, "keyctl": unix.SYS_KEYCTL,
			"add_key": unix.SYS_ADD_KEY, "request_key": unix.SYS_REQUEST_KEY,
			"perf_event_open": unix.SYS_PERF_EVENT_OPEN, "open_by_handle_at": unix.SYS_OPEN_BY_HANDLE_AT,
			"name_to_handle_at": unix.SYS_NAME_TO_HANDLE_AT, "swapon": unix.SYS_SWAPON,
			"swapoff": unix.SYS_SWAPOFF, "reboot": unix.SYS_REBOOT, "acct": unix.SYS_ACCT,
			"syslog": unix.SYS_SYSLOG, "quotactl": unix.SYS_QUOTACTL, "lookup_dcookie": unix.SYS_LOOKUP_DCOOKIE,
			"userfaultfd": unix.SYS_USERFAULTFD, "iopl": unix.SYS_IOPL, "ioperm": unix.SYS_IOPERM,
		}}
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
