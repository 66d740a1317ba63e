variable "ec2_endpoint" { type = string }
variable "s3_endpoint" { type = string }
variable "keys_dir" { type = string }
variable "source_ami" { type = string }
variable "output_directory" { type = string }

source "chromogenic-ec2" "eki" {
  region              = "eucalyptus"
  custom_endpoint_ec2 = var.ec2_endpoint
  custom_endpoint_s3  = var.s3_endpoint
  source_ami          = var.source_ami
  skip_register       = true
  state_timeout       = "5m"
  output_directory    = "${var.output_directory}/work"
  mount_path          = "${var.output_directory}/mnt"

  eucalyptus {
    user_private_key_file = "${var.keys_dir}/euca-pk.pem"
    user_cert_file        = "${var.keys_dir}/euca-cert.pem"
    cloud_cert_file       = "${var.keys_dir}/cloud-cert.pem"
    bucket                = "packer-bundles"
  }
}

build {
  sources = ["source.chromogenic-ec2.eki"]

  provisioner "shell" {
    inline = ["echo folded > /etc/chromogenic-kernel-test"]
  }

  # No kernel given: bootable takes the artifact's kernel_path and ramdisk_path, which the
  # builder unbundled from the EMI's eki and eri.
  post-processor "chromogenic-convert" {
    formats          = ["raw"]
    output_directory = var.output_directory
    bootable {
      firmware = "bios"
    }
  }
}
