# Migrate a server (or an image) from one OpenStack cloud, region or project to another in one
# build:
#
#   chromogenic-openstack           image mode: a Nova snapshot of the server (or the Glance
#                                   image) streamed home into a sparse raw working copy, the
#                                   intermediate snapshot deleted; skip_upload: nothing goes
#                                   back to the source cloud.
#   provisioners                    run inside the guest through a chroot.
#   chromogenic-openstack-import    the working copy streamed into the target cloud's Glance.
#
# Both clouds are named in clouds.yaml; they may be the same cloud with different projects or
# regions.
#
#   packer build -var source_cloud=old -var instance_id=0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f -var target_cloud=new -var image_name=web-migrated example/migrate-openstack-to-openstack.pkr.hcl

packer {
  required_version = ">= 1.11.0"
  required_plugins {
    chromogenic = {
      source  = "github.com/chromogenic/chromogenic"
      version = ">= 0.1.0"
    }
  }
}

variable "source_cloud" {
  type = string
}

variable "target_cloud" {
  type = string
}

variable "clouds_file" {
  type    = string
  default = ""
}

variable "instance_id" {
  type        = string
  default     = ""
  description = "The server to capture. Set this or source_image."
}

variable "source_image" {
  type    = string
  default = ""
}

variable "image_name" {
  type = string
}

variable "disk_format" {
  type    = string
  default = "qcow2"
}

variable "output_directory" {
  type    = string
  default = "output-openstack-to-openstack"
}

source "chromogenic-openstack" "source" {
  cloud            = var.source_cloud
  clouds_file      = var.clouds_file
  instance_id      = var.instance_id
  source_image     = var.source_image
  skip_upload      = true
  output_directory = var.output_directory
}

build {
  sources = ["source.chromogenic-openstack.source"]

  provisioner "shell" {
    inline = ["echo 'migrated from ${var.source_cloud}' > /etc/chromogenic-migration"]
  }

  provisioner "chromogenic-clean" {
    operations  = ["defaults"]
    report_file = "${var.output_directory}/clean-report.json"
  }

  post-processor "chromogenic-openstack-import" {
    cloud             = var.target_cloud
    clouds_file       = var.clouds_file
    image_name        = var.image_name
    image_disk_format = var.disk_format
    metadata = {
      migrated_from = var.source_cloud
    }
  }
}
