variable "source_path" { type = string }
variable "output_directory" { type = string }
variable "convert_directory" { type = string }
variable "marker" { type = string }

# A Fedora-shaped btrfs guest (internal/testimages kind btrfs-fedora): / in subvolume "root",
# /home in subvolume "home", /boot on ext4.
source "chromogenic-local" "fedora" {
  source_path      = var.source_path
  output_directory = var.output_directory
  image_name       = "fedora.raw"
  mount_path       = "${var.output_directory}/mnt"
}

build {
  sources = ["source.chromogenic-local.fedora"]

  provisioner "shell" {
    inline = [
      "echo '${var.marker}' > /home/acc-marker",
      "echo 'ls -l' > /root/.bash_history",
    ]
  }
  provisioner "chromogenic-clean" {
    operations = ["bash-history"]
  }

  # A bootable disk (GRUB for BIOS, rootflags=subvol=root), packed as an OVA.
  post-processor "chromogenic-convert" {
    formats             = ["ova"]
    output_directory    = var.convert_directory
    file_name           = "fedora"
    keep_input_artifact = true
    bootable {}
  }
}
