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
