variable "clouds_file" { type = string }
variable "source_image" { type = string }
variable "output_directory" { type = string }

source "chromogenic-openstack" "aki" {
  cloud            = "aio-a"
  clouds_file      = var.clouds_file
  source_image     = var.source_image
  skip_upload      = true
  output_directory = "${var.output_directory}/work"
}

build {
  sources = ["source.chromogenic-openstack.aki"]

  provisioner "shell" {
    inline = ["echo folded > /etc/chromogenic-kernel-test"]
  }

  # No kernel given: bootable takes the artifact's kernel_path and ramdisk_path, which the
  # builder fetched from the image's kernel_id and ramdisk_id.
  post-processor "chromogenic-convert" {
    formats          = ["raw"]
    output_directory = var.output_directory
    bootable {
      firmware = "bios"
    }
  }
}
