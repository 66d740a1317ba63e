variable "source_path" { type = string }
variable "output_directory" { type = string }
variable "convert_directory" { type = string }

# An openSUSE-shaped btrfs guest (internal/testimages kind btrfs-suse) built in snapper's
# snapshot 2, not the default subvolume (snapshot 1) the rule picks, on partition 1 named by
# root_partition; the bootable export takes both choices from the artifact.
source "chromogenic-local" "suse" {
  source_path      = var.source_path
  output_directory = var.output_directory
  mount_path       = "${var.output_directory}/mnt"
  root_partition   = 1
  root_subvolume   = "@/.snapshots/2/snapshot"
}

build {
  sources = ["source.chromogenic-local.suse"]

  provisioner "shell" {
    inline = ["echo provisioned-in-$(cat /etc/chromogenic-subvol | tr ' ' -) > /etc/chromogenic-picked"]
  }

  post-processor "chromogenic-convert" {
    formats          = ["raw"]
    output_directory = var.convert_directory
    file_name        = "{{.BuildName}}-bootable"
    bootable {}
  }
}
