# Bring a local disk image (raw, qcow2, VMDK, VHD) to OpenStack in one build:
#
#   chromogenic-local               a sparse raw working copy of the image, the guest mounted.
#   provisioners                    run inside the guest through a chroot.
#   chromogenic-openstack-import    the working copy streamed into Glance in disk_format.
#
#   packer build -var source_path=disk.vmdk -var os_cloud=mycloud -var image_name=web-from-vmware example/migrate-local-to-openstack.pkr.hcl

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

variable "os_cloud" {
  type        = string
  description = "The target cloud's name in clouds.yaml."
}

variable "clouds_file" {
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
  default = "output-local-to-openstack"
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

  post-processor "chromogenic-openstack-import" {
    cloud             = var.os_cloud
    clouds_file       = var.clouds_file
    image_name        = var.image_name
    image_disk_format = var.disk_format
    metadata = {
      migrated_from = "local"
    }
  }
}
