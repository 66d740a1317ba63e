variable "source_path" { type = string }
variable "output_directory" { type = string }
variable "mount_path" { type = string }
variable "marker" { type = string }
variable "upload" { type = string }

source "chromogenic-local" "acc" {
  source_path      = var.source_path
  output_directory = var.output_directory
  mount_path       = var.mount_path
  # mount_options given without nosuid,nodev: they are added anyway
  mount_options = ["noatime"]
}

build {
  sources = ["source.chromogenic-local.acc"]

  provisioner "shell" {
    inline = [
      "echo '${var.marker}' > /root/acc-marker",
      # a big file made and deleted again: trimming must give its blocks back
      "dd if=/dev/urandom of=/var/tmp/big bs=1M count=200 status=none && sync && rm /var/tmp/big",
    ]
  }
  # A package manager in the sandbox (the default): network, apt's _apt privilege drop, dpkg.
  provisioner "shell" {
    inline = [
      "apt-get -qq update && apt-get install -y -qq --no-install-recommends hello >/dev/null",
      "hello > /root/acc-hello && echo SANDBOXED-PID=$$",
      "apt-get clean && rm -rf /var/lib/apt/lists/*",
    ]
  }
  provisioner "file" {
    source      = var.upload
    destination = "/etc/acc-upload"
  }
  provisioner "shell-local" {
    inline = [
      "echo MOUNT=${build.MountPath} DEVICE=${build.Device} IMAGE=${build.WorkingImage}",
      # on the host, while the guest is mounted: its mount options and the modes of the files
      "echo FINDMNT=$(findmnt -n -o OPTIONS --mountpoint ${build.MountPath})",
      "echo STAT=$(stat -c %a ${build.WorkingImage} $(dirname ${build.WorkingImage}) $(dirname ${build.MountPath}))",
    ]
  }
}
