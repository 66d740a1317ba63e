# Migrate an OpenStack image (or a running server) to AWS in one build:
#
#   chromogenic-openstack     image mode: the Glance image (or a Nova snapshot of the server)
#                             streamed home into a sparse raw working copy; skip_upload:
#                             nothing is uploaded back to OpenStack.
#   provisioners              run inside the guest through a chroot.
#   chromogenic-ec2-import    the working copy written into a new EBS snapshot through the EBS
#                             direct API (per-block SHA-256, whole-snapshot LINEAR checksum, no
#                             S3 bucket, no vmimport role), then registered as an AMI.
#
# The guest needs the drivers of the instance types it will run on (Debian and Ubuntu cloud
# kernels carry ENA and NVMe); nothing is injected on this path.
#
#   packer build -var os_cloud=mycloud -var source_image=6f0c6b4e-2b3a-4f4e-9d8e-7d1c2a3b4c5d -var ami_name=web-from-openstack example/migrate-openstack-to-aws.pkr.hcl

packer {
  required_version = ">= 1.11.0"
  required_plugins {
    chromogenic = {
      source  = "github.com/chromogenic/chromogenic"
      version = ">= 0.1.0"
    }
  }
}

variable "os_cloud" {
  type        = string
  description = "The source cloud's name in clouds.yaml."
}

variable "clouds_file" {
  type        = string
  default     = ""
  description = "clouds.yaml to read; empty for the usual places."
}

variable "source_image" {
  type        = string
  default     = ""
  description = "The Glance image to migrate, by ID. Set this or instance_id."
}

variable "instance_id" {
  type        = string
  default     = ""
  description = "A server to snapshot and migrate instead of an image."
}

variable "aws_region" {
  type    = string
  default = "us-east-1"
}

variable "ec2_endpoint" {
  type        = string
  default     = ""
  description = "Custom EC2 endpoint; empty for AWS's own."
}

variable "ebs_endpoint" {
  type        = string
  default     = ""
  description = "Custom EBS direct API endpoint; empty for AWS's own."
}

variable "ami_name" {
  type = string
}

variable "boot_mode" {
  type        = string
  default     = "legacy-bios"
  description = "legacy-bios, uefi or uefi-preferred: how the guest boots."
}

variable "output_directory" {
  type    = string
  default = "output-openstack-to-aws"
}

variable "keep_working_copy" {
  type    = bool
  default = false
}

source "chromogenic-openstack" "openstack" {
  cloud            = var.os_cloud
  clouds_file      = var.clouds_file
  source_image     = var.source_image
  instance_id      = var.instance_id
  skip_upload      = true
  output_directory = var.output_directory
}

build {
  sources = ["source.chromogenic-openstack.openstack"]

  provisioner "shell" {
    inline = ["echo 'migrated from OpenStack ${var.source_image}${var.instance_id}' > /etc/chromogenic-migration"]
  }

  provisioner "chromogenic-clean" {
    operations  = ["defaults"]
    report_file = "${var.output_directory}/clean-report.json"
  }

  post-processor "chromogenic-ec2-import" {
    region              = var.aws_region
    custom_endpoint_ec2 = var.ec2_endpoint
    custom_endpoint_ebs = var.ebs_endpoint
    ami_name            = var.ami_name
    boot_mode           = var.boot_mode
    ena_support         = true
    ebs_concurrency     = 32
    tags = {
      Name          = var.ami_name
      migrated_from = "openstack"
    }
    keep_input_artifact = var.keep_working_copy
  }
}
