variable "source_path" { type = string }
variable "output_directory" { type = string }
variable "convert_directory" { type = string }
variable "marker" { type = string }

# An XFS guest (internal/testimages kind xfs-root) captured while its source is mounted: the
# working copy has the same XFS UUID, so it mounts with nouuid.
source "chromogenic-local" "xfs" {
  source_path      = var.source_path
  output_directory = var.output_directory
  image_name       = "xfs.raw"
  mount_path       = "${var.output_directory}/mnt"
  fsck             = "check"
}

build {
  sources = ["source.chromogenic-local.xfs"]

  # The marker file, a bash history for chromogenic-clean, and the boot marker unit the TCG
  # boot waits for (CHROMOGENIC-BOOT-OK on ttyS0, printing the marker file before it).
  provisioner "shell" {
    inline = [
      "echo '${var.marker}' > /etc/acc-marker",
      "echo 'ls -l' > /root/.bash_history",
      "printf '[Unit]\\nAfter=multi-user.target\\n[Service]\\nType=oneshot\\nExecStart=/bin/sh -c \"echo XFS-MARKER $(cat /etc/acc-marker) $(findmnt -no FSTYPE /) > /dev/ttyS0; echo CHROMOGENIC-BOOT-OK > /dev/ttyS0\"\\n[Install]\\nWantedBy=multi-user.target\\n' > /etc/systemd/system/chromogenic-marker.service",
      "mkdir -p /etc/systemd/system/multi-user.target.wants /etc/systemd/system.conf.d",
      "ln -sf /etc/systemd/system/chromogenic-marker.service /etc/systemd/system/multi-user.target.wants/",
      "printf '[Manager]\\nDefaultDeviceTimeoutSec=15min\\n' > /etc/systemd/system.conf.d/chromogenic-tcg.conf",
    ]
  }
  provisioner "chromogenic-clean" {
    operations = ["bash-history"]
  }

  # A bootable disk (GRUB for BIOS reading the XFS root), packed as an OVA.
  post-processor "chromogenic-convert" {
    formats             = ["ova"]
    output_directory    = var.convert_directory
    file_name           = "xfs"
    keep_input_artifact = true
    bootable {}
  }
}
