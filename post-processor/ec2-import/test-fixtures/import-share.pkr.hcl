variable "source_path" { type = string }
variable "output_directory" { type = string }
variable "region" { type = string }
variable "ec2_endpoint" { type = string }
variable "ebs_endpoint" { type = string }
variable "euca_ec2_endpoint" { type = string }
variable "euca_s3_endpoint" { type = string }
variable "keys_dir" { type = string }
variable "ami_name" { type = string }

source "chromogenic-local" "sample" {
  source_path      = var.source_path
  output_directory = var.output_directory
  mount_path       = "${var.output_directory}/mnt"
}

build {
  sources = ["source.chromogenic-local.sample"]

  provisioner "shell" {
    inline = ["echo shared-by-chromogenic > /etc/chromogenic-share-marker"]
  }

  # Into AWS: shared, and copied to two more regions.
  post-processor "chromogenic-ec2-import" {
    region              = var.region
    custom_endpoint_ec2 = var.ec2_endpoint
    custom_endpoint_ebs = var.ebs_endpoint
    ami_name            = var.ami_name
    ami_users           = ["210987654321"]
    snapshot_groups     = ["all"]
    ami_regions         = ["eu-west-1", "us-west-2"]
    tags = {
      chromogenic = "share-acc"
    }
    keep_input_artifact = true
  }

  # Into Eucalyptus: an instance-store EMI another account may launch.
  post-processor "chromogenic-ec2-import" {
    region              = "eucalyptus"
    custom_endpoint_ec2 = var.euca_ec2_endpoint
    custom_endpoint_s3  = var.euca_s3_endpoint
    ami_name            = var.ami_name
    ami_users           = ["000000000042"]
    state_timeout       = "5m"
    keep_input_artifact = true
    eucalyptus {
      user_private_key_file = "${var.keys_dir}/euca-pk.pem"
      user_cert_file        = "${var.keys_dir}/euca-cert.pem"
      bucket                = "shared"
    }
  }
}
