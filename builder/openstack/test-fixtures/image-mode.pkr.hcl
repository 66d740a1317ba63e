variable "clouds_file" { type = string }
variable "instance_id" { type = string }
variable "image_name" { type = string }
variable "output_directory" { type = string }
variable "marker" { type = string }

source "chromogenic-openstack" "image" {
  cloud             = "aio-a"
  clouds_file       = var.clouds_file
  instance_id       = var.instance_id
  image_name        = var.image_name
  image_disk_format = "raw"
  image_tags        = ["chromogenic-acc"]
  metadata = {
    chromogenic_test = "yes"
  }
  output_directory = var.output_directory
  mount_path       = "${var.output_directory}/mnt"
}

build {
  sources = ["source.chromogenic-openstack.image"]
  provisioner "shell" {
    inline = ["echo '${var.marker}' > /root/openstack-acc-marker", "echo history > /root/.bash_history"]
  }
  provisioner "chromogenic-clean" {
    operations  = ["defaults"]
    report_file = "${var.output_directory}/clean-report.json"
  }
  provisioner "shell-local" {
    inline = ["echo SNAPSHOT=${build.SnapshotID}"]
  }
  post-processor "chromogenic-convert" {
    formats             = ["vmdk"]
    output_directory    = "${var.output_directory}/export"
    keep_input_artifact = true
  }
}
