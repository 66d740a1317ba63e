variable "region" { type = string }
variable "ec2_endpoint" { type = string }
variable "target" { type = string }

data "chromogenic-ec2-image" "debian" {
  region              = var.region
  custom_endpoint_ec2 = var.ec2_endpoint
  filters = {
    name                  = "debian-12-*"
    "tag:chromogenic"     = "yes"
  }
  owners      = ["self"]
  most_recent = true
}

source "file" "out" {
  content = "${data.chromogenic-ec2-image.debian.id} ${data.chromogenic-ec2-image.debian.name} ${data.chromogenic-ec2-image.debian.root_snapshot_id}"
  target  = var.target
}

build {
  sources = ["source.file.out"]
}
