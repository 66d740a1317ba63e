# Bring a local disk image (raw, qcow2, VMDK, VHD: an export from VMware, VirtualBox, KVM...)
# to AWS in one build:
#
#   chromogenic-local         a sparse raw working copy of the image, the guest mounted.
#   provisioners              run inside the guest through a chroot.
#   chromogenic-ec2-import    the working copy written into a new EBS snapshot through the EBS
#                             direct API (per-block SHA-256, no S3 bucket, no vmimport role),
#                             then registered as an AMI.
#
#   packer build -var source_path=disk.qcow2 -var ami_name=web-from-kvm example/migrate-local-to-aws.pkr.hcl

packer {
  required_version = ">= 1.11.0"
  required_plugins {
    chromogenic = {
      source  = "github.com/chromogenic/chromogenic"
      version = ">= 0.1.0"
    }
  }
}

variable "source_path" {
  type        = string
  description = "The disk image to migrate."
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
  type    = string
  default = "legacy-bios"
}

variable "output_directory" {
  type    = string
  default = "output-local-to-aws"
}

source "chromogenic-local" "disk" {
  source_path      = var.source_path
  output_directory = var.output_directory
}

build {
  sources = ["source.chromogenic-local.disk"]

  provisioner "shell" {
    inline = ["echo 'migrated from a local image' > /etc/chromogenic-migration"]
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
    tags = {
      Name          = var.ami_name
      migrated_from = "local"
    }
  }
}
