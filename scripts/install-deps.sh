#!/usr/bin/env bash
# install-deps.sh - install the Debian packages the plugin's build, tests and main job need.
# Idempotent: packages already present are not reinstalled, and apt-get update runs only when
# something is missing.
set -euo pipefail

PKGS=(
  qemu-utils            # qemu-img: the oracle for every image we write
  qemu-system-x86       # boot tests (TCG)
  debootstrap           # sample and test guest trees
  extlinux syslinux-common  # bootloader of the sample image
  grub-efi-amd64-bin mtools ovmf  # bootable exports: host-side EFI GRUB, ESP written without vfat, EFI boot tests
  grub-pc-bin           # bootable exports: host-side GRUB for BIOS (i386-pc modules; coexists with grub-efi-amd64-bin, unlike grub-pc)
  fdisk                 # sfdisk: partition tables of test images
  gdisk                 # sgdisk: GPT test images
  e2fsprogs dosfstools xfsprogs lvm2
  util-linux mount
  bubblewrap            # bwrap: the sandbox every guest program runs in (internal/sandbox)
  rsync jq make git ca-certificates
  openssh-server        # sshd: live-mode tests of chromogenic-clean (SSH communicator)
  awscli                # /usr/bin/aws: cross-checks test/ec2emu with a client nobody here wrote
  python3-boto3         # botocore's S3 signature version 2 signer (awscli v2 has none): cross-checks the emulator's version 2 verifier
  python3-openstackclient  # /usr/bin/openstack: the user-script baseline of bench/openstack-bench.sh
  virt-v2v libxml2-utils   # OVA consumer checks: virt-v2v -i ova reads each OVA profile; xmllint, the descriptors
  nbdkit                # virt-v2v -i disk needs it (bootable exports converted by virt-v2v)
  libnbd-bin            # nbdcopy, nbdinfo: virt-v2v copies the converted disk with them (even to -o null)
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo ">> apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
