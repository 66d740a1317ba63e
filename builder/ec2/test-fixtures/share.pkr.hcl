variable "region" { type = string }
variable "ec2_endpoint" { type = string }
variable "ebs_endpoint" { type = string }
variable "sts_endpoint" { type = string }
variable "source_ami" { type = string }
variable "ami_name" { type = string }
variable "output_directory" { type = string }
variable "marker" { type = string }

source "chromogenic-ec2" "share" {
  region              = var.region
  custom_endpoint_ec2 = var.ec2_endpoint
  custom_endpoint_ebs = var.ebs_endpoint
  custom_endpoint_sts = var.sts_endpoint
  assume_role {
    role_arn     = "arn:aws:iam::210987654321:role/image-publisher"
    session_name = "chromogenic-acc"
    external_id  = "acc-external-id"
  }
  source_ami      = var.source_ami
  ami_name        = var.ami_name
  ami_users       = ["210987654321"]
  ami_groups      = ["all"]
  snapshot_users  = ["333344445555"]
  ami_regions     = ["eu-west-1", "ap-south-2"]
  tags = {
    Name        = var.ami_name
    chromogenic = "acc"
  }
  ebs_concurrency  = 8
  state_timeout    = "5m"
  output_directory = var.output_directory
  mount_path       = "${var.output_directory}/mnt"
}

build {
  sources = ["source.chromogenic-ec2.share"]
  provisioner "shell" {
    inline = ["echo '${var.marker}' > /root/ec2-acc-marker"]
  }
  post-processor "manifest" {
    output = "${var.output_directory}/manifest.json"
  }
}
