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
variable "marker" { type = string }
variable "base_provenance" {
  type    = string
  default = ""
}

source "chromogenic-local" "sample" {
  source_path      = var.source_path
  output_directory = var.output_directory
  mount_path       = "${var.output_directory}/mnt"
}

build {
  sources = ["source.chromogenic-local.sample"]

  provisioner "shell" {
    inline = ["echo ${var.marker} > /etc/chromogenic-delta-marker"]
  }

  post-processor "chromogenic-ec2-import" {
    access_key          = var.access_key
    secret_key          = var.secret_key
    region              = var.region
    custom_endpoint_ec2 = var.ec2_endpoint
    custom_endpoint_ebs = var.ebs_endpoint
    ami_name            = var.ami_name
    base_provenance     = var.base_provenance
    keep_input_artifact = true
  }
}
