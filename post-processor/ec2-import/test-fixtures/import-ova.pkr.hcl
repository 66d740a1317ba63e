variable "source_path" { type = string }
variable "output_directory" { type = string }
variable "region" { type = string }
variable "ec2_endpoint" { type = string }
variable "ebs_endpoint" { type = string }
variable "access_key" { type = string }
variable "secret_key" {
  type      = string
  sensitive = true
}
variable "ami_name" { type = string }

# Two chains from one working copy: convert writes an OVA first and a qcow2 (the import
# must read the qcow2, not take the OVA for a raw disk); convert writes only an OVA (the
# import reads the VMDK inside it).
source "chromogenic-local" "ova" {
  source_path      = var.source_path
  output_directory = var.output_directory
  mount_path       = "${var.output_directory}/mnt"
}

build {
  sources = ["source.chromogenic-local.ova"]

  provisioner "shell" {
    inline = ["echo imported-from-ova > /etc/chromogenic-ec2-import-marker"]
  }

  post-processors {
    post-processor "chromogenic-convert" {
      formats             = ["ova", "qcow2"]
      file_name           = "both"
      keep_input_artifact = true
    }
    post-processor "chromogenic-ec2-import" {
    access_key          = var.access_key
    secret_key          = var.secret_key
    region              = var.region
    custom_endpoint_ec2 = var.ec2_endpoint
    custom_endpoint_ebs = var.ebs_endpoint
    boot_mode           = "uefi"
    keep_input_artifact = true
      ami_name            = "${var.ami_name}-both"
    }
  }

  post-processors {
    post-processor "chromogenic-convert" {
      formats             = ["ova"]
      file_name           = "only"
      keep_input_artifact = true
    }
    post-processor "chromogenic-ec2-import" {
    access_key          = var.access_key
    secret_key          = var.secret_key
    region              = var.region
    custom_endpoint_ec2 = var.ec2_endpoint
    custom_endpoint_ebs = var.ebs_endpoint
    boot_mode           = "uefi"
    keep_input_artifact = true
      ami_name            = "${var.ami_name}-only"
    }
  }
}
