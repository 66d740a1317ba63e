# Migrate an AWS EC2 instance (or an EBS-backed AMI) to a Eucalyptus 4.x cloud in one build:
#
#   chromogenic-ec2           the instance imaged (CreateImage) and its root snapshot read home
#                             through the EBS direct API into a sparse raw working copy; the
#                             intermediate AMI deleted; skip_register: nothing goes back to AWS.
#   provisioners              run inside the guest through a chroot.
#   chromogenic-ec2-import    to the Eucalyptus cloud controller (…/services/compute), which has
#                             no EBS direct API: register = "import-volume" uploads the disk in
#                             parts to the object store, ImportVolume builds an EBS volume in
#                             availability_zone, then CreateSnapshot and RegisterImage make an
#                             EBS-backed HVM EMI, like the AWS image it came from.
#                             (register = "bundle" makes an instance-store bundle instead: it
#                             needs the user's key and certificate and the cloud's certificate.)
#
# AWS credentials come from the usual sources (AWS_* variables, profile, instance role);
# Eucalyptus' are given as variables (from the user's eucarc / credentials zip).
#
#   packer build -var instance_id=i-0123456789abcdef0 -var euca_ec2_endpoint=https://compute.euca.example:8773/services/compute -var euca_s3_endpoint=https://objectstorage.euca.example:8773/services/objectstorage -var euca_access_key=AKIEXAMPLE -var euca_secret_key=secret -var euca_bucket=imports -var euca_zone=PARTI00 -var emi_name=web-from-aws example/migrate-aws-to-eucalyptus.pkr.hcl

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
  description = "The AWS instance to capture. Set this or source_ami."
}

variable "source_ami" {
  type    = string
  default = ""
}

variable "euca_ec2_endpoint" {
  type        = string
  description = "The Eucalyptus cloud controller, https://HOST:8773/services/compute."
}

variable "euca_s3_endpoint" {
  type        = string
  description = "The Eucalyptus object store, https://HOST:8773/services/objectstorage."
}

variable "euca_access_key" {
  type = string
}

variable "euca_secret_key" {
  type      = string
  sensitive = true
}

variable "euca_bucket" {
  type        = string
  description = "Bucket for the ImportVolume parts (created when missing)."
}

variable "euca_zone" {
  type        = string
  description = "Availability zone (cluster) of the imported volume."
}

variable "emi_name" {
  type = string
}

variable "output_directory" {
  type    = string
  default = "output-aws-to-eucalyptus"
}

source "chromogenic-ec2" "aws" {
  region           = var.aws_region
  instance_id      = var.instance_id
  source_ami       = var.source_ami
  skip_register    = true
  output_directory = var.output_directory
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

  post-processor "chromogenic-ec2-import" {
    access_key          = var.euca_access_key
    secret_key          = var.euca_secret_key
    region              = "eucalyptus"
    custom_endpoint_ec2 = var.euca_ec2_endpoint
    custom_endpoint_s3  = var.euca_s3_endpoint
    ami_name            = var.emi_name
    tags = {
      migrated_from = "aws"
    }
    eucalyptus {
      register          = "import-volume"
      bucket            = var.euca_bucket
      availability_zone = var.euca_zone
    }
  }
}
