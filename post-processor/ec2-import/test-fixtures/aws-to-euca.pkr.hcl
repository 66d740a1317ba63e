variable "aws_region" { type = string }
variable "aws_ec2_endpoint" { type = string }
variable "aws_ebs_endpoint" { type = string }
variable "source_ami" { type = string }
variable "output_directory" { type = string }
variable "euca_ec2_endpoint" { type = string }
variable "euca_s3_endpoint" { type = string }
variable "keys_dir" { type = string }
variable "ami_name" { type = string }
variable "marker" { type = string }

# Out of AWS: the AMI's root snapshot is read through the EBS direct API and provisioned.
source "chromogenic-ec2" "aws" {
  region              = var.aws_region
  custom_endpoint_ec2 = var.aws_ec2_endpoint
  custom_endpoint_ebs = var.aws_ebs_endpoint
  source_ami          = var.source_ami
  skip_register       = true
  output_directory    = var.output_directory
  mount_path          = "${var.output_directory}/mnt"
}

build {
  sources = ["source.chromogenic-ec2.aws"]

  provisioner "shell" {
    inline = ["echo '${var.marker}' > /etc/chromogenic-migrated"]
  }

  # Into Eucalyptus: an instance-store bundle, uploaded and registered.
  post-processor "chromogenic-ec2-import" {
    region              = "eucalyptus"
    custom_endpoint_ec2 = var.euca_ec2_endpoint
    custom_endpoint_s3  = var.euca_s3_endpoint
    ami_name            = var.ami_name
    tags = {
      migrated-from = "aws"
    }
    state_timeout = "5m"
    eucalyptus {
      user_private_key_file = "${var.keys_dir}/euca-pk.pem"
      user_cert_file        = "${var.keys_dir}/euca-cert.pem"
      # no cloud_cert_file: fetched with DescribeServiceCertificates
      bucket                = "migrated"
    }
  }
}
