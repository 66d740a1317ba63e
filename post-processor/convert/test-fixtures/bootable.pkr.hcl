variable "source_path" { type = string }
variable "output_directory" { type = string }
variable "convert_directory" { type = string }
variable "kernel" { type = string }
variable "ramdisk" { type = string }

source "chromogenic-local" "euca" {
  source_path      = var.source_path
  output_directory = var.output_directory
  mount_path       = "${var.output_directory}/mnt"
}

build {
  sources = ["source.chromogenic-local.euca"]

  provisioner "shell" {
    inline = ["echo made-bootable-by-chromogenic > /etc/chromogenic-bootable-marker"]
  }

  post-processor "chromogenic-convert" {
    formats          = ["ova", "qcow2"]
    output_directory = var.convert_directory
    file_name        = "{{.BuildName}}-bootable"
    bootable {
      firmware   = "efi"
      kernel     = var.kernel
      ramdisk    = var.ramdisk
      extra_size = "128M"
    }
  }
}
