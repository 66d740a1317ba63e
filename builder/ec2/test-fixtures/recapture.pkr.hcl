variable "region" { type = string }
variable "ec2_endpoint" { type = string }
variable "ebs_endpoint" { type = string }
variable "instance_id" { type = string }
variable "output_directory" { type = string }
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

source "chromogenic-ec2" "acc" {
  region                = var.region
  custom_endpoint_ec2   = var.ec2_endpoint
  custom_endpoint_ebs   = var.ebs_endpoint
  instance_id           = var.instance_id
  skip_register         = true
  keep_capture_snapshot = true
  base_provenance       = var.base_provenance
  ebs_concurrency       = 8
  state_timeout         = "5m"
  output_directory      = var.output_directory
  mount_path            = "${var.output_directory}/mnt"
  mount_options         = var.mount_options
  skip_trim             = var.skip_trim
  copy_files            = var.copy_files
}

build {
  sources = ["source.chromogenic-ec2.acc"]
  provisioner "shell" {
    inline = [var.command]
  }
}
