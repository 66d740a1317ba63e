variable "source_path" { type = string }
variable "output_directory" { type = string }
variable "mount_path" { type = string }
variable "marker" { type = string }
variable "convert_directory" { type = string }

# The lvm-var test image: / and /var are logical volumes of VG chromo-vg, /boot a partition.
source "chromogenic-local" "lvm" {
  source_path      = var.source_path
  output_directory = var.output_directory
  mount_path       = var.mount_path
  fstab_mounts     = ["/boot", "/var"]
}

build {
  sources = ["source.chromogenic-local.lvm"]

  provisioner "shell" {
    inline = [
      "echo '${var.marker}' > /var/acc-lvm-marker",
      # a DHCP lease (removed by clean's dhcp-client-state) and its neighbour (kept)
      "mkdir -p /var/lib/dhcp",
      "echo 'lease { fixed-address 10.0.0.9; }' > /var/lib/dhcp/dhclient.eth0.leases",
      "echo '${var.marker}' > /var/lib/dhcp/acc-neighbour",
      # The boot report the TCG boot waits for: the marker and what / and /var are mounted from
      # (device and filesystem UUID), then the boot marker, on ttyS0.
      "cat > /usr/local/sbin/acc-boot-report <<'EOF'",
      "#!/bin/sh",
      "exec > /dev/ttyS0",
      "echo",
      "for m in / /var; do s=$(findmnt -no SOURCE $m); echo \"LVM-BOOT $m $s $(blkid -s UUID -o value $s)\"; done",
      "echo \"LVM-MARKER $(cat /var/acc-lvm-marker)\"",
      "echo CHROMOGENIC-BOOT-OK",
      "EOF",
      "chmod 755 /usr/local/sbin/acc-boot-report",
      "printf '[Unit]\\nAfter=multi-user.target\\n[Service]\\nType=oneshot\\nExecStart=/usr/local/sbin/acc-boot-report\\n[Install]\\nWantedBy=multi-user.target\\n' > /etc/systemd/system/acc-boot-report.service",
      "mkdir -p /etc/systemd/system/multi-user.target.wants /etc/systemd/system.conf.d",
      "ln -sf /etc/systemd/system/acc-boot-report.service /etc/systemd/system/multi-user.target.wants/",
      "printf '[Manager]\\nDefaultDeviceTimeoutSec=15min\\n' > /etc/systemd/system.conf.d/chromogenic-tcg.conf",
    ]
  }
  provisioner "shell-local" {
    inline = ["echo LVM-MOUNTS=$(findmnt -rn -o TARGET,SOURCE -R ${build.MountPath} | tr ' \\n' '=,')"]
  }
  provisioner "chromogenic-clean" {
    operations = ["dhcp-client-state"]
  }

  # A bootable disk of plain partitions (the LVs flattened), packed as an OVA.
  post-processor "chromogenic-convert" {
    formats             = ["ova"]
    output_directory    = var.convert_directory
    file_name           = "lvm"
    keep_input_artifact = true
    bootable {
      lvm = "flatten"
    }
  }
}
