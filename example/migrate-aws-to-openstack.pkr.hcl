# Migrate an AWS EC2 instance (or an EBS-backed AMI) to OpenStack in one build:
#
#   chromogenic-ec2                 CreateImage of the instance (rebooting it unless
#                                   no_reboot), its root snapshot read home through the EBS
#                                   direct API into a sparse raw working copy (per-block
#                                   SHA-256), the intermediate AMI deleted; skip_register:
#                                   nothing is registered back in AWS.
#   provisioners                    run inside the guest through a chroot: note where the
#                                   image came from, clean the instance's identity so that
#                                   cloud-init and the machine ID start afresh in the new cloud.
#   chromogenic-openstack-import    the working copy streamed into Glance as qcow2.
#
# AWS credentials come from the usual sources (AWS_* variables, shared config, profiles,
# instance role); OpenStack's from clouds.yaml (OS_CLIENT_CONFIG_FILE or clouds_file).
#
#   packer build -var instance_id=i-0123456789abcdef0 -var os_cloud=mycloud -var image_name=web-from-aws example/migrate-aws-to-openstack.pkr.hcl

packer {
  required_version = ">= 1.11.0"
  required_plugins {
    chromogenic = {
      source  = "github.com/chromogenic/chromogenic"
      version = ">= 0.1.0"
    }
  }
}

variable "aws_region" {
  type    = string
  default = "us-east-1"
}

variable "instance_id" {
  type        = string
  default     = ""
  description = "The instance to capture. Set this or source_ami."
}

variable "source_ami" {
  type        = string
  default     = ""
  description = "An EBS-backed AMI to start from instead of an instance."
}

variable "ec2_endpoint" {
  type        = string
  default     = ""
  description = "Custom EC2 endpoint (VPC endpoint, EC2-compatible cloud); empty for AWS's own."
}

variable "ebs_endpoint" {
  type        = string
  default     = ""
  description = "Custom EBS direct API endpoint; empty for AWS's own."
}

variable "os_cloud" {
  type        = string
  description = "The target cloud's name in clouds.yaml."
}

variable "clouds_file" {
  type        = string
  default     = ""
  description = "clouds.yaml to read; empty for the usual places."
}

variable "image_name" {
  type        = string
  description = "Name of the new Glance image."
}

variable "disk_format" {
  type    = string
  default = "qcow2"
}

variable "output_directory" {
  type    = string
  default = "output-aws-to-openstack"
}

variable "keep_working_copy" {
  type        = bool
  default     = false
  description = "Keep the local raw working copy after the upload."
}

source "chromogenic-ec2" "aws" {
  region              = var.aws_region
  custom_endpoint_ec2 = var.ec2_endpoint
  custom_endpoint_ebs = var.ebs_endpoint
  instance_id         = var.instance_id
  source_ami          = var.source_ami
  skip_register       = true
  ebs_concurrency     = 32
  output_directory    = var.output_directory
}

build {
  sources = ["source.chromogenic-ec2.aws"]

  provisioner "shell" {
    inline = ["echo 'migrated from AWS ${var.instance_id}${var.source_ami}' > /etc/chromogenic-migration"]
  }

  provisioner "chromogenic-clean" {
    operations  = ["defaults"]
    report_file = "${var.output_directory}/clean-report.json"
  }

  post-processor "chromogenic-openstack-import" {
    cloud               = var.os_cloud
    clouds_file         = var.clouds_file
    image_name          = var.image_name
    image_disk_format   = var.disk_format
    keep_input_artifact = var.keep_working_copy
    metadata = {
      migrated_from = "aws"
    }
  }
}
