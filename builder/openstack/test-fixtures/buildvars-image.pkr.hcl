# Image mode, every build variable docs/builders/openstack.mdx lists printed by a provisioner
# and a post-processor (the test puts the echo commands in place of @PROV@ and @POST@).
variable "clouds_file" { type = string }
variable "instance_id" { type = string }
variable "image_name" { type = string }
variable "output_directory" { type = string }

source "chromogenic-openstack" "vars" {
  cloud             = "aio-a"
  clouds_file       = var.clouds_file
  instance_id       = var.instance_id
  image_name        = var.image_name
  image_disk_format = "raw"
  output_directory  = var.output_directory
  mount_path        = "${var.output_directory}/mnt"
}

build {
  sources = ["source.chromogenic-openstack.vars"]
  provisioner "shell-local" {
    inline = ["@PROV@"]
  }
  post-processor "chromogenic-convert" {
    formats             = ["qcow2"]
    output_directory    = "${var.output_directory}/export"
    file_name           = "img-${build.ImageID}"
    keep_input_artifact = true
  }
  post-processor "shell-local" {
    inline = ["@POST@"]
  }
}
