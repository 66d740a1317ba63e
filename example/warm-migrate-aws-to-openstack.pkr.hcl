# Warm migration of an AWS EC2 instance to OpenStack, in two passes of this one template:
#
#   pass 1 (the instance keeps running)   a full capture: the working copy, its provenance
#                                         record and the kept capture snapshot are the base of
#                                         pass 2; the image is pushed into Glance.
#   pass 2 (after the instance stopped)   previous_pass names pass 1's output directory: only
#                                         the blocks EBS ListChangedBlocks reports since pass
#                                         1's capture snapshot (and those pass 1's provisioners
#                                         wrote) are read. Glance has no delta upload: the new
#                                         image is streamed whole, as qcow2.
#
#   chromogenic-ec2                 CreateImage of the instance, its root snapshot read through
#                                   the EBS direct API (keep_capture_snapshot: it stays for the
#                                   next pass; delete it after the cutover); base_provenance:
#                                   the changed-block recapture.
#   provisioners                    run inside the guest through a chroot each pass.
#   chromogenic-openstack-import    the working copy streamed into Glance.
#
#   packer build -var instance_id=i-0123456789abcdef0 -var os_cloud=mycloud -var image_name=web-pass1 -var output_directory=pass1 example/warm-migrate-aws-to-openstack.pkr.hcl
#   (stop the instance)
#   packer build -var instance_id=i-0123456789abcdef0 -var os_cloud=mycloud -var image_name=web-final -var output_directory=pass2 -var previous_pass=pass1 example/warm-migrate-aws-to-openstack.pkr.hcl

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
  description = "Name of this pass's Glance image."
}

variable "output_directory" {
  type        = string
  description = "This pass's directory: the working copy and its record stay here for the next pass."
}

variable "previous_pass" {
  type        = string
  default     = ""
  description = "The output_directory of the previous pass; empty for the first."
}

locals {
  base_capture = var.previous_pass == "" ? "" : "${var.previous_pass}/aws.raw.provenance.json"
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

  post-processor "chromogenic-openstack-import" {
    cloud               = var.os_cloud
    clouds_file         = var.clouds_file
    image_name          = var.image_name
    image_disk_format   = "qcow2"
    keep_input_artifact = true
    metadata = {
      migrated_from = "aws"
    }
  }
}
