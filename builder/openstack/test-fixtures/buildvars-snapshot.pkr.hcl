# Snapshot mode, every build variable docs/builders/openstack.mdx lists printed by a
# shell-local provisioner (it runs: it does not reach the guest) and a post-processor.
variable "clouds_file" { type = string }
variable "instance_id" { type = string }
variable "image_name" { type = string }

source "chromogenic-openstack" "vars" {
  cloud       = "aio-a"
  clouds_file = var.clouds_file
  instance_id = var.instance_id
  image_name  = var.image_name
  mode        = "snapshot"
}

build {
  sources = ["source.chromogenic-openstack.vars"]
  provisioner "shell-local" {
    inline = ["@PROV@"]
  }
  post-processor "shell-local" {
    inline = ["@POST@"]
  }
}
