variable "clouds_file" { type = string }
variable "instance_id" { type = string }
variable "image_name" { type = string }
variable "output_directory" { type = string }

source "chromogenic-openstack" "snap" {
  cloud       = "aio-a"
  clouds_file = var.clouds_file
  instance_id = var.instance_id
  image_name  = var.image_name
  mode        = "snapshot"
  image_tags  = ["chromogenic-acc"]

  output_directory = var.output_directory
}

build {
  sources = ["source.chromogenic-openstack.snap"]
}
