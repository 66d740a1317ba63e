variable "source_path" { type = string }
variable "output_directory" { type = string }
variable "mount_path" { type = string }
variable "marker" { type = string }
variable "root_subvolume" {
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
    ]
  }
  provisioner "chromogenic-clean" {
    operations = ["defaults"]
  }
  provisioner "shell-local" {
    inline = ["echo MOUNTS=$(findmnt -rn -o TARGET,FSROOT -R ${build.MountPath} | sed 's|${build.MountPath}||' | tr ' \\n' ':,')"]
  }
}
