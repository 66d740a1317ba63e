variable "disk1" { type = string }
variable "disk2" { type = string }
variable "output_directory" { type = string }
variable "mount_path" { type = string }
variable "marker" { type = string }
variable "convert_directory" { type = string }

# The lvm-span test image: VG debian-vg over two disks, / on LV root (disk 1's PV), /srv on
# LV data (disk 2's PV), /boot a partition of disk 1.
source "chromogenic-local" "span" {
  source_paths     = [var.disk1, var.disk2]
  output_directory = var.output_directory
  image_name       = "span.raw"
  mount_path       = var.mount_path
}

build {
  sources = ["source.chromogenic-local.span"]

  provisioner "shell" {
    inline = [
      "echo '${var.marker}' > /acc-span-root",
      "echo '${var.marker}' > /srv/acc-span-data",
      # On each disk a file chromogenic-clean removes and its neighbour, which stays: a DHCP
      # lease (dhcp-client-state) on the root LV, a file of the remove rule (custom-rules) on the data LV.
      "mkdir -p /var/lib/dhcp",
      "echo 'lease { fixed-address 10.0.0.9; }' > /var/lib/dhcp/dhclient.eth0.leases",
      "echo '${var.marker}' > /var/lib/dhcp/acc-neighbour",
      "echo junk > /srv/acc-span-junk",
      "echo '${var.marker}' > /srv/acc-span-keep",
      # The boot report the TCG boot waits for: the markers, and for / and /srv the device,
      # the filesystem's UUID and the PV (disk partition) the LV lies on; then the boot marker.
      "cat > /usr/local/sbin/acc-boot-report <<'EOF'",
      "#!/bin/sh",
      "exec > /dev/ttyS0",
      "echo",
      "for m in / /srv; do s=$(findmnt -no SOURCE $m); echo \"SPAN-BOOT $m $s $(blkid -s UUID -o value $s) $(lvs --noheadings -o devices $s 2>/dev/null | tr -d ' ')\"; done",
      "echo \"SPAN-MARKER $(cat /acc-span-root) $(cat /srv/acc-span-data) $(cat /srv/chromogenic-span)\"",
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
    inline = ["echo SPAN-MOUNTS=$(findmnt -rn -o TARGET,SOURCE -R ${build.MountPath} | tr ' \\n' '=,')"]
  }
  provisioner "chromogenic-clean" {
    operations = ["dhcp-client-state", "custom-rules"]
    remove     = ["/srv/acc-span-junk"]
  }

  # Disk 1 made bootable with the VG kept (flatten cannot place disk 2's LV, and refuses),
  # packed with disk 2 as one OVA.
  post-processor "chromogenic-convert" {
    formats             = ["ova"]
    output_directory    = var.convert_directory
    file_name           = "span"
    keep_input_artifact = true
    bootable {
      lvm = "keep"
    }
  }
}
