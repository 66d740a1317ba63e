# Warm migration of an OpenStack server to AWS, in two passes of this one template:
#
#   pass 1 (the server keeps running)   a Nova snapshot of the server read home in full and
#                                       pushed in full: the working copy and the record of its
#                                       push are the base of pass 2.
#   pass 2 (after the server stopped)   previous_pass names pass 1's output directory. OpenStack
#                                       has no changed-block API, so the download is whole
#                                       again, but it updates a copy of pass 1's working copy
#                                       (base_provenance: only the blocks that differ are
#                                       written), and only the blocks whose SHA-256 differs from
#                                       pass 1's push are written to EBS, as a child snapshot
#                                       of pass 1's (ParentSnapshotId). Run it again for a third
#                                       pass, naming pass 2's directory.
#
#   chromogenic-openstack     server mode: a Nova snapshot of instance_id streamed home into a
#                             sparse raw working copy (the snapshot deleted afterwards);
#                             skip_upload: nothing goes back to OpenStack.
#   provisioners              run inside the guest through a chroot each pass.
#   chromogenic-ec2-import    StartSnapshot (with ParentSnapshotId in pass 2), RegisterImage.
#
#   packer build -var os_cloud=mycloud -var instance_id=0b7c2f1e-5a4d-4c3b-9e8f-1a2b3c4d5e6f -var ami_name=web-pass1 -var output_directory=pass1 example/warm-migrate-openstack-to-aws.pkr.hcl
#   (stop the server)
#   packer build -var os_cloud=mycloud -var instance_id=0b7c2f1e-5a4d-4c3b-9e8f-1a2b3c4d5e6f -var ami_name=web-final -var output_directory=pass2 -var previous_pass=pass1 example/warm-migrate-openstack-to-aws.pkr.hcl

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

variable "instance_id" {
  type        = string
  description = "The server to migrate."
}

variable "aws_region" {
  type    = string
  default = "us-east-1"
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
  description = "This pass's directory: the working copy and its push record stay here for the next pass."
}

variable "previous_pass" {
  type        = string
  default     = ""
  description = "The output_directory of the previous pass; empty for the first."
}

locals {
  # The working copy is <output_directory>/openstack.raw (the source's name); beside it the
  # record of its capture and the record of its push.
  base_capture = var.previous_pass == "" ? "" : "${var.previous_pass}/openstack.raw.provenance.json"
  base_push    = var.previous_pass == "" ? "" : "${var.previous_pass}/openstack.raw.ec2-import.provenance.json"
}

source "chromogenic-openstack" "openstack" {
  cloud            = var.os_cloud
  clouds_file      = var.clouds_file
  instance_id      = var.instance_id
  skip_upload      = true
  base_provenance  = local.base_capture
  output_directory = var.output_directory
}

build {
  sources = ["source.chromogenic-openstack.openstack"]

  provisioner "shell" {
    inline = ["echo 'migrated from OpenStack ${var.instance_id}' > /etc/chromogenic-migration"]
  }

  provisioner "chromogenic-clean" {
    operations = ["defaults"]
  }

  post-processor "chromogenic-ec2-import" {
    region              = var.aws_region
    custom_endpoint_ec2 = var.ec2_endpoint
    custom_endpoint_ebs = var.ebs_endpoint
    ami_name            = var.ami_name
    ena_support         = true
    base_provenance     = local.base_push
    keep_input_artifact = true
    tags = {
      Name          = var.ami_name
      migrated_from = "openstack"
    }
  }
}
