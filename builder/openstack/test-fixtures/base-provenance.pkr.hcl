variable "clouds_file" { type = string }
variable "source_image" { type = string }
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

source "chromogenic-openstack" "acc" {
  cloud            = "aio-a"
  clouds_file      = var.clouds_file
  source_image     = var.source_image
  skip_upload      = true
  base_provenance  = var.base_provenance
  output_directory = var.output_directory
  mount_path       = "${var.output_directory}/mnt"
  mount_options    = var.mount_options
  skip_trim        = var.skip_trim
  copy_files       = var.copy_files
}

build {
  sources = ["source.chromogenic-openstack.acc"]
  provisioner "shell" {
    inline = [var.command]
  }
}
