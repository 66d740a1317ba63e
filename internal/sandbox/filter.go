//go:build linux

package sandbox

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// The seccomp filter bwrap loads before it executes the guest program. A classic BPF program
// over struct seccomp_data: refused system calls return EPERM (ENOSYS for clone3, whose flags
// a filter cannot read, so that libc falls back to clone); a clone asking for a new namespace
// gets EPERM; anything else is allowed. The native architecture's numbers come from
// golang.org/x/sys/unix; on amd64 the i386 compatibility numbers are refused too and x32
// calls are refused outright. An architecture the filter does not know gets EPERM for every
// call.

// deniedNames lists the refused calls, for the docs and the tests; each arch file gives
// their numbers.
var deniedNames = []string{
	"mount", "umount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsconfig",
	"fsmount", "fspick", "mount_setattr", "unshare", "setns", "kexec_load", "kexec_file_load",
	"init_module", "finit_module", "delete_module", "ptrace", "process_vm_readv",
	"process_vm_writev", "pidfd_getfd", "bpf", "keyctl", "add_key", "request_key",
	"perf_event_open", "open_by_handle_at", "name_to_handle_at", "swapon", "swapoff", "reboot",
	"acct", "syslog", "quotactl", "lookup_dcookie", "userfaultfd", "iopl", "ioperm", "vm86",
	"vm86old",
}

// archTable is one architecture's numbers.
type archTable struct {
	audit  uint32            // AUDIT_ARCH_*
	deny   map[string]uint32 // name -> number; names absent on the arch are left out
	clone  uint32
	clone3 uint32
	x32    bool // refuse numbers with the x32 bit (amd64)
}

// nsFlags are the clone flags that create namespaces.
const nsFlags = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
	unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWTIME

const (
	retAllow  = unix.SECCOMP_RET_ALLOW
	retEPERM  = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	retENOSYS = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)

	offNr    = 0
	offArch  = 4
	offArg0  = 16 // low 32 bits of args[0], little endian
	x32Bit   = 0x40000000
	ldAbsW   = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	jeqK     = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	jgeK     = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	jsetK    = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
	retK     = unix.BPF_RET | unix.BPF_K
	labelEnd = -1
)

// asm is a tiny assembler with forward labels for conditional jumps.
type asm struct {
	prog   []unix.SockFilter
	fixups []fixup
	labels map[string]int
}

type fixup struct {
	at           int
	ifTrue, ifNo string // "" = next instruction
}

func (a *asm) op(code uint16, k uint32) { a.prog = append(a.prog, unix.SockFilter{Code: code, K: k}) }

func (a *asm) jump(code uint16, k uint32, ifTrue, ifNo string) {
	a.fixups = append(a.fixups, fixup{at: len(a.prog), ifTrue: ifTrue, ifNo: ifNo})
	a.op(code, k)
}

func (a *asm) label(name string) { a.labels[name] = len(a.prog) }

func (a *asm) resolve() error {
	for _, f := range a.fixups {
		for _, j := range []struct {
			name string
			dst  *uint8
		}{{f.ifTrue, &a.prog[f.at].Jt}, {f.ifNo, &a.prog[f.at].Jf}} {
			if j.name == "" {
				continue
			}
			to, ok := a.labels[j.name]
			if !ok {
				return fmt.Errorf("seccomp filter: no label %s", j.name)
			}
			skip := to - f.at - 1
			if skip < 0 || skip > 255 {
				return fmt.Errorf("seccomp filter: jump to %s out of range (%d)", j.name, skip)
			}
			*j.dst = uint8(skip)
		}
	}
	return nil
}

// program assembles the filter for tables (the first is the native one).
func program(tables []archTable) ([]unix.SockFilter, error) {
	a := &asm{labels: map[string]int{}}
	a.op(ldAbsW, offArch)
	for i, t := range tables {
		a.jump(jeqK, t.audit, fmt.Sprintf("arch%d", i), "")
	}
	a.op(retK, retEPERM) // an unknown architecture
	for i, t := range tables {
		a.label(fmt.Sprintf("arch%d", i))
		a.op(ldAbsW, offNr)
		deny, clone := fmt.Sprintf("deny%d", i), fmt.Sprintf("clone%d", i)
		if t.x32 {
			a.jump(jgeK, x32Bit, deny, "")
		}
		if t.clone3 != 0 {
			a.jump(jeqK, t.clone3, fmt.Sprintf("enosys%d", i), "")
		}
		a.jump(jeqK, t.clone, clone, "")
		for _, name := range deniedNames {
			if nr, ok := t.deny[name]; ok {
				a.jump(jeqK, nr, deny, "")
			}
		}
		a.op(retK, retAllow)
		a.label(clone)
		a.op(ldAbsW, offArg0)
		a.jump(jsetK, nsFlags, deny, "")
		a.op(retK, retAllow)
		a.label(fmt.Sprintf("enosys%d", i))
		a.op(retK, retENOSYS)
		a.label(deny)
		a.op(retK, retEPERM)
	}
	if err := a.resolve(); err != nil {
		return nil, err
	}
	return a.prog, nil
}

// Filter returns the seccomp program for this architecture in the form bwrap's --seccomp
// reads (struct sock_filter array, native byte order).
func Filter() ([]byte, error) {
	prog, err := program(archTables())
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	for _, ins := range prog {
		if err := binary.Write(&b, binary.NativeEndian, ins); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}
