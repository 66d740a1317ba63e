// Package clean is the guest cleaning engine: it removes, empties and edits the files that
// make a guest tree specific to one machine, one user or one cloud (virt-sysprep's job, plus
// the Atmosphere/CyVerse cleaning of the original chromogenic), on a guest tree opened as a
// guestfs.Root.
//
// Safety: every guest file is reached through the guestfs.Root (in-root resolution with
// openat2, descriptor-relative actions), never with package os on a guest path. A symlink, a
// ".." chain, a hard link to a host file, a FIFO or a device node can therefore never make
// the engine touch a host file; such entries are skipped and listed in the report. Mounts a
// chroot builder adds (/proc, /sys, /dev, /dev/pts, /dev/shm, /run) and any bind-mounted file
// or directory are never modified or entered either, even through in-root symlinks. Edits
// rewrite files in place (same inode, owner, mode, xattrs and SELinux label) and only ever
// delete, replace or add whole lines.
//
// Guest programs: the ops of this package never run a guest binary. Retargeting a guest for
// another platform (Xen to KVM, a generic PC), which does run the guest's initramfs and
// bootloader tools, is internal/retarget: it edits through this package's Env (RunSteps, the
// Env's file actions) and registers its xen-to-kvm op here with Register.
//
// Live systems: with Options.Live the engine runs on a running guest and cleans its own "/"
// (the chromogenic-clean provisioner's live mode), with extra rules so the running system and
// the session stay usable (see Live). Only then does it read process information with package
// os: /proc, the process's own user (os/user) and /etc/machine-id, all read-only.
//
// Usage:
//
//	root, _ := guestfs.OpenRoot(mountPath)
//	defer root.Close()
//	rep, err := clean.Run(ctx, root, clean.Options{
//		Operations: []string{"defaults", "+user-account", "-tmp-files"},
//		DryRun:     true,
//	})
//	fmt.Print(rep.Summary())   // human summary; rep is also JSON-marshalable
//
// Operations are registered by the op_*.go files of this package (one file per operation,
// registered in init with Register) and by internal/retarget (xen-to-kvm, present in programs
// that import it); Operations lists them and Resolve expands a selection.
package clean
