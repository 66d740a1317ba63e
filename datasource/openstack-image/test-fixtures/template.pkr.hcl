variable "clouds_file" { type = string }
variable "name_regex" { type = string }

data "chromogenic-openstack-image" "found" {
  cloud       = "aio-a"
  clouds_file = var.clouds_file
  name_regex  = var.name_regex
  most_recent = true
}

source "null" "x" {
  communicator = "none"
}

build {
  sources = ["source.null.x"]
  provisioner "shell-local" {
    inline = ["echo FOUND=${data.chromogenic-openstack-image.found.id} FORMAT=${data.chromogenic-openstack-image.found.disk_format}"]
  }
}
