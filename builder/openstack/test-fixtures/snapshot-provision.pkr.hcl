# Snapshot mode with a provisioner that needs the guest (the test puts it in place of the
# placeholder below): the build must fail before any snapshot is made. The shell-local
# provisioner before it runs.
variable "clouds_file" { type = string }
variable "instance_id" { type = string }
variable "image_name" { type = string }

source "chromogenic-openstack" "snap" {
  cloud       = "aio-a"
  clouds_file = var.clouds_file
  instance_id = var.instance_id
  image_name  = var.image_name
  mode        = "snapshot"
}

build {
  sources = ["source.chromogenic-openstack.snap"]
  provisioner "shell-local" {
    inline = ["echo LOCAL-PROVISIONER-RAN"]
  }
  @PROVISIONER@
}
