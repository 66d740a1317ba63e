variable "region" { type = string }
variable "ec2_endpoint" { type = string }
variable "ebs_endpoint" { type = string }
variable "instance_id" {
  type    = string
  default = ""
}
variable "source_ami" {
  type    = string
  default = ""
}
variable "capture_method" {
  type    = string
  default = ""
}
variable "ami_name" { type = string }
variable "output_directory" { type = string }
variable "marker" { type = string }
variable "state_timeout" {
  type    = string
  default = "5m"
}
variable "command" {
  type    = string
  default = "true"
}

source "chromogenic-ec2" "acc" {
  region              = var.region
  custom_endpoint_ec2 = var.ec2_endpoint
  custom_endpoint_ebs = var.ebs_endpoint
  instance_id         = var.instance_id
  source_ami          = var.source_ami
  ami_name            = var.ami_name
  capture_method      = var.capture_method
  tags = {
    Name        = var.ami_name
    chromogenic = "acc"
  }
  ebs_concurrency  = 8
  state_timeout    = var.state_timeout
  output_directory = var.output_directory
  mount_path       = "${var.output_directory}/mnt"
}

build {
  sources = ["source.chromogenic-ec2.acc"]
  provisioner "shell" {
    inline = ["echo '${var.marker}' > /root/ec2-acc-marker", var.command]
  }
  provisioner "shell-local" {
    inline = ["echo SOURCE=${build.SourceAMI} SNAPSHOT=${build.SourceSnapshot}"]
  }
}
