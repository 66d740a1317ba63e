# Every build variable docs/builders/ec2.mdx lists, printed by a provisioner and a
# post-processor (the test puts the echo commands in place of @PROV@ and @POST@).
variable "region" { type = string }
variable "ec2_endpoint" { type = string }
variable "ebs_endpoint" { type = string }
variable "instance_id" { type = string }
variable "ami_name" { type = string }
variable "output_directory" { type = string }

source "chromogenic-ec2" "vars" {
  region              = var.region
  custom_endpoint_ec2 = var.ec2_endpoint
  custom_endpoint_ebs = var.ebs_endpoint
  instance_id         = var.instance_id
  ami_name            = var.ami_name
  no_reboot           = true
  state_timeout       = "5m"
  output_directory    = var.output_directory
  mount_path          = "${var.output_directory}/mnt"
}

build {
  sources = ["source.chromogenic-ec2.vars"]
  provisioner "shell-local" {
    inline = ["@PROV@"]
  }
  post-processor "chromogenic-convert" {
    formats             = ["qcow2"]
    output_directory    = "${var.output_directory}/export"
    file_name           = "ami-of-${build.SourceAMI}-is-${build.ImageID}"
    keep_input_artifact = true
  }
  post-processor "shell-local" {
    inline = ["@POST@"]
  }
}
