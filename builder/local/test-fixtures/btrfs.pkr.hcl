variable "source_path" { type = string }
variable "output_directory" { type = string }
variable "mount_path" { type = string }
variable "marker" { type = string }
variable "root_subvolume" {
  type    = string
  default = ""
}
variable "convert_directory" {
  type    = string
  default = ""
}

# An openSUSE-shaped btrfs guest (internal/testimages kind btrfs-suse): the root is snapper's
# snapshot 1 (the default subvolume); /var, /home and /opt are subvolumes of their own.
source "chromogenic-local" "btrfs" {
  source_path      = var.source_path
  output_directory = var.output_directory
  mount_path       = var.mount_path
  root_subvolume   = var.root_subvolume
}

build {
  sources = ["source.chromogenic-local.btrfs"]

  provisioner "shell" {
    inline = [
      "echo '${var.marker}' > /root/acc-marker",
      "echo 'secret log line' > /var/log/acc-btrfs.log",
      "mkdir -p /home/alice && echo 'ls -l' > /home/alice/.bash_history && echo keep > /home/alice/keep",
      "echo ROOT-SUBVOL=$(cat /etc/chromogenic-subvol | tr ' ' _)",
      # Printed on ttyS0 at boot, before the image's own root report and boot marker: the
      # marker and the subvolumes /var and /home are mounted from.
      "printf '[Unit]\\nAfter=local-fs.target\\nBefore=chromogenic-report.service chromogenic-marker.service\\n[Service]\\nType=oneshot\\nExecStart=/bin/sh -c \"echo SUSE-BOOT marker=$(cat /root/acc-marker) var=$(findmnt -no FSROOT /var) home=$(findmnt -no FSROOT /home) > /dev/ttyS0\"\\n[Install]\\nWantedBy=multi-user.target\\n' > /etc/systemd/system/acc-boot-report.service",
      "ln -sf /etc/systemd/system/acc-boot-report.service /etc/systemd/system/multi-user.target.wants/",
    ]
  }
  provisioner "chromogenic-clean" {
    operations = ["defaults"]
  }
  provisioner "shell-local" {
    inline = ["echo MOUNTS=$(findmnt -rn -o TARGET,FSROOT -R ${build.MountPath} | sed 's|${build.MountPath}||' | tr ' \\n' ':,')"]
  }

  # A bootable disk (GRUB for BIOS, the kernel in the snapshot's /boot), packed as an OVA;
  # TestAccLocalRootSubvolume leaves it out (-except=ova).
  post-processor "chromogenic-convert" {
    name                = "ova"
    formats             = ["ova"]
    output_directory    = var.convert_directory
    file_name           = "suse"
    keep_input_artifact = true
    bootable {}
  }
}
