variable "ec2_endpoint" { type = string }
variable "s3_endpoint" { type = string }
variable "keys_dir" { type = string }
variable "instance_id" {
  type    = string
  default = ""
}
variable "source_ami" {
  type    = string
  default = ""
}
variable "capture_method" {
  type    = string
  default = ""
}
variable "ami_name" { type = string }
variable "output_directory" { type = string }
variable "marker" { type = string }
variable "cloud_cert_file" {
  type    = string
  default = ""
}
variable "skip_register" {
  type    = bool
  default = false
}
variable "register" {
  type    = string
  default = "bundle"
}
variable "s3_signature_version" {
  type    = string
  default = "v4"
}

source "chromogenic-ec2" "euca" {
  region               = "eucalyptus"
  custom_endpoint_ec2  = var.ec2_endpoint
  custom_endpoint_s3   = var.s3_endpoint
  s3_signature_version = var.s3_signature_version
  instance_id          = var.instance_id
  source_ami           = var.source_ami
  ami_name             = var.ami_name
  skip_register        = var.skip_register
  capture_method       = var.capture_method
  tags = {
    chromogenic = "euca-acc"
  }
  state_timeout    = "5m"
  output_directory = var.output_directory
  mount_path       = "${var.output_directory}/mnt"
  base_provenance  = var.base_provenance
  mount_options    = var.mount_options
  skip_trim        = var.skip_trim
  copy_files       = var.copy_files

  eucalyptus {
    user_private_key_file = "${var.keys_dir}/euca-pk.pem"
    user_cert_file        = "${var.keys_dir}/euca-cert.pem"
    cloud_cert_file       = var.cloud_cert_file
    bucket                = "packer-bundles"
    register              = var.register
    availability_zone     = "eucalyptusa"
  }
}

variable "base_provenance" {
  type    = string
  default = ""
}
variable "mount_options" {
  type    = list(string)
  default = []
}
variable "skip_trim" {
  type    = bool
  default = false
}
variable "copy_files" {
  type    = list(string)
  default = null
}
variable "command" {
  type    = string
  default = "true"
}

build {
  sources = ["source.chromogenic-ec2.euca"]
  provisioner "shell" {
    inline = ["echo '${var.marker}' > /root/ec2-acc-marker", var.command]
  }
}
