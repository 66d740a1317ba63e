variable "clouds_file" { type = string }
variable "source_image" { type = string }
variable "output_directory" { type = string }
variable "image_name" { type = string }
variable "external_kernel" { type = string }
variable "visibility" {
  type    = string
  default = "private"
}
variable "members" {
  type    = list(string)
  default = []
}

source "chromogenic-openstack" "ami" {
  cloud            = "aio-a"
  clouds_file      = var.clouds_file
  source_image     = var.source_image
  image_name       = var.image_name
  external_kernel  = var.external_kernel
  image_visibility = var.visibility
  image_members    = var.members
  image_min_ram    = 256
  output_directory = var.output_directory
}

build {
  sources = ["source.chromogenic-openstack.ami"]

  provisioner "shell" {
    inline = ["echo ${var.external_kernel} > /etc/chromogenic-kernel-test"]
  }
}
