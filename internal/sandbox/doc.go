// Package sandbox runs a guest's own programs (a provisioner's /bin/sh, update-initramfs,
// dracut, grub-mkconfig, grub-mkstandalone) inside a mounted guest tree without giving them
// the host.
//
// Trust: the guest tree and every program in it are hostile. The caller (the template, the
// plugin) is trusted; so is the host's bwrap.
//
// Each program runs under bubblewrap (bwrap, Debian's package "bubblewrap"), with:
//   - new mount, PID, IPC, UTS and (where possible) cgroup namespaces, and pivot_root into the
//     guest tree (the host's root is unmounted from the namespace: no chroot to climb out of);
//   - a fresh procfs of the new PID namespace (host processes are invisible; /proc/sys
//     read-only), a private /dev (null, zero, full, random, urandom, tty, a new devpts
//     instance, shm) plus only the loop devices the guest tree itself is mounted from, no
//     sysfs;
//   - a capability bounding set cut to what package managers and initramfs tools use (no
//     CAP_SYS_ADMIN, CAP_MKNOD, CAP_SYS_MODULE, CAP_SYS_PTRACE, CAP_SYS_RAWIO, CAP_NET_ADMIN...),
//     no_new_privs, a new session (no TIOCSTI into the caller's terminal), and a seccomp filter
//     (filter.go) refusing mount and the new mount API, pivot_root, unshare/setns and
//     namespace-creating clone flags, kexec, module loading, ptrace and process_vm_*, bpf,
//     keyrings, perf events, open_by_handle_at, swap, reboot, acct, syslog and ioports;
//   - a fixed environment (Env): nothing of the host's, so no cloud credential reaches a guest;
//   - no network for engine-run tools; a provisioner may keep the host's (Options.Network) so
//     apt-get works.
//
// Why bwrap and not our own fork code: namespace, pivot_root, devpts and capability setup are
// easy to get subtly wrong (mount propagation, the order of setuid, PR_SET_PDEATHSIG races),
// and bubblewrap is small, audited, used by Flatpak and packaged by every distribution. The
// one piece bwrap does not make is the seccomp program, which it loads from a descriptor: it
// is assembled here (filter.go) from the syscall numbers of golang.org/x/sys/unix, because
// libseccomp would need cgo and the plugin binary is static. Cost: about one fork/exec of bwrap
// per guest command (BenchmarkRun).
//
// Dropping the sandbox (the templates' `sandbox = false`) runs programs with plain chroot(2)
// and trusts the guest; Chroot does that.
package sandbox
