variable "source_ami" { type = string }
variable "ami_name" { type = string }
variable "output_directory" { type = string }
variable "marker" { type = string }

# Everything else (endpoints, keys, certificates, account) comes from a sourced eucarc.
source "chromogenic-ec2" "eucarc" {
  source_ami       = var.source_ami
  ami_name         = var.ami_name
  state_timeout    = "5m"
  output_directory = var.output_directory
  mount_path       = "${var.output_directory}/mnt"

  eucalyptus {
    bucket = "packer-bundles"
  }
}

build {
  sources = ["source.chromogenic-ec2.eucarc"]
  provisioner "shell" {
    inline = ["echo '${var.marker}' > /root/ec2-acc-marker"]
  }
}
