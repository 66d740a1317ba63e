# Warm migration of an AWS EC2 instance to another AWS region or account, in two passes of
# this one template:
#
#   pass 1 (the instance keeps running)   a full capture and a full push: the working copy,
#                                         its provenance record, the kept capture snapshot and
#                                         the pushed snapshot and AMI are the base of pass 2.
#   pass 2 (after the instance stopped)   previous_pass names pass 1's output directory: only
#                                         the blocks EBS ListChangedBlocks reports since pass
#                                         1's capture snapshot (and those pass 1's provisioners
#                                         wrote) are read, and only the blocks whose SHA-256
#                                         differs from pass 1's push are written, as a child
#                                         snapshot of it (ParentSnapshotId). Run it again for
#                                         a third pass, naming pass 2's directory.
#
#   chromogenic-ec2          CreateImage of the instance, its root snapshot read through the
#                            EBS direct API (keep_capture_snapshot: the snapshot stays, for
#                            the next pass's ListChangedBlocks; delete it after the cutover);
#                            base_provenance: the changed-block recapture.
#   provisioners             run inside the guest through a chroot each pass.
#   chromogenic-ec2-import   StartSnapshot (with ParentSnapshotId in pass 2), RegisterImage.
#
# If pass 1's working copy no longer matches its record, or the instance is another, pass 2
# says why and falls back to a full read; a parent that cannot serve gives a full push.
#
#   packer build -var instance_id=i-0123456789abcdef0 -var ami_name=web-pass1 -var output_directory=pass1 example/warm-migrate-aws-to-aws.pkr.hcl
#   (stop the instance)
#   packer build -var instance_id=i-0123456789abcdef0 -var ami_name=web-final -var output_directory=pass2 -var previous_pass=pass1 example/warm-migrate-aws-to-aws.pkr.hcl

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

variable "target_region" {
  type        = string
  default     = ""
  description = "Region of the new AMI; empty for aws_region."
}

variable "instance_id" {
  type        = string
  description = "The instance to migrate."
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

variable "ami_name" {
  type        = string
  description = "Name of this pass's AMI (each pass registers its own)."
}

variable "output_directory" {
  type        = string
  description = "This pass's directory: the working copy and its records stay here for the next pass."
}

variable "previous_pass" {
  type        = string
  default     = ""
  description = "The output_directory of the previous pass; empty for the first."
}

locals {
  # The working copy is <output_directory>/aws.raw (the source's name); beside it the
  # capture's record and the push's record.
  base_capture = var.previous_pass == "" ? "" : "${var.previous_pass}/aws.raw.provenance.json"
  base_push    = var.previous_pass == "" ? "" : "${var.previous_pass}/aws.raw.ec2-import.provenance.json"
}

source "chromogenic-ec2" "aws" {
  region                = var.aws_region
  custom_endpoint_ec2   = var.ec2_endpoint
  custom_endpoint_ebs   = var.ebs_endpoint
  instance_id           = var.instance_id
  skip_register         = true
  keep_capture_snapshot = true
  base_provenance       = local.base_capture
  ebs_concurrency       = 32
  output_directory      = var.output_directory
}

build {
  sources = ["source.chromogenic-ec2.aws"]

  provisioner "shell" {
    inline = ["echo 'migrated from AWS ${var.instance_id}' > /etc/chromogenic-migration"]
  }

  provisioner "chromogenic-clean" {
    operations = ["defaults"]
  }

  post-processor "chromogenic-ec2-import" {
    region              = var.target_region == "" ? var.aws_region : var.target_region
    custom_endpoint_ec2 = var.ec2_endpoint
    custom_endpoint_ebs = var.ebs_endpoint
    ami_name            = var.ami_name
    base_provenance     = local.base_push
    keep_input_artifact = true
  }
}
