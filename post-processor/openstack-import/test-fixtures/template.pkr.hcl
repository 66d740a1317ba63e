variable "source_path" { type = string }
variable "output_directory" { type = string }
variable "clouds_file" { type = string }
variable "image_name" { type = string }

source "chromogenic-local" "migrate" {
  source_path      = var.source_path
  output_directory = var.output_directory
  mount_path       = "${var.output_directory}/mnt"
}

build {
  sources = ["source.chromogenic-local.migrate"]
  provisioner "shell" {
    inline = ["echo migrated > /etc/chromogenic-migrated"]
  }
  post-processor "chromogenic-openstack-import" {
    cloud               = "aio-b"
    clouds_file         = var.clouds_file
    image_name          = var.image_name
    disk_format         = "vmdk"
    keep_input_artifact = true
    properties = {
      os_distro = "debian"
    }
  }
}
