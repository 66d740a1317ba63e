// Package hostile holds the acceptance tests of the guest-program sandbox (issue 14): guest
// images whose programs attack the host, run through every path on which the plugin runs a
// guest program, and a build whose guest writes its environment into the image while packer
// holds secrets.
//
// The hostile corpus is a small disk image (64 MiB sparse, MBR, one ext4 partition, a
// Debian- or RHEL-looking tree with a kernel, its module index, an initramfs and a grub.cfg)
// whose /bin/sh, update-initramfs, dracut, grub-mkconfig and grub-mkstandalone are one static
// program, test/hostile/escape. Run as any of them it tries, in turn: the double-chroot
// escape, a write through /proc/1/root, a write of kernel.core_pattern, a write to the test's
// canary loop device by its host node and by a mknod'ed node of the same numbers, tmpfs and
// proc mounts, loading a (garbage) kernel module, ptrace and SIGKILL of a host process the test
// started, and reading the host environment (its own, /proc/1/environ, /proc/*/environ). Each
// success leaves a mark on the host that the test looks for: a file in the canary directory,
// bytes at the start of the canary loop device, a changed core_pattern, a dead or traced
// victim, a sentinel value (packer and the CLI run with AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN, OS_PASSWORD and OS_APPLICATION_CREDENTIAL_SECRET set to unique
// sentinels) anywhere in the artifact's bytes. The program also writes a report of every
// attempt's errno into the guest, which the test reads from the artifact to prove that the
// program ran and that each attempt failed.
//
// Paths run (TestHostileGuest): chromogenic-local with a shell provisioner (guest /bin/sh),
// chromogenic-clean with target = "kvm" (update-initramfs, grub-mkconfig), chromogenic-convert
// with bootable { firmware = "efi" } (update-initramfs, grub-mkconfig, grub-mkstandalone), all
// through the real packer binary, and `chromogenic clean --target kvm` on an image file of a
// RHEL-looking guest (dracut, grub-mkconfig). TestSentinelEnvironment builds a guest with a
// real shell (the host's dash, env, cat, chmod, rm and their libraries) whose shell
// provisioner runs `env > /root/env.txt; cat /proc/1/environ > /root/p1.txt` and greps the
// artifact for the sentinels.
//
// The tests need PACKER_ACC=1 and root (loop devices, mounts). They leave the host as they
// found it: canaries, loop devices, victims and core_pattern are restored or removed.
package hostile
