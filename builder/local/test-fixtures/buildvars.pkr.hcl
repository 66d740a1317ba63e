# Every build variable docs/builders/local.mdx lists, printed by a provisioner and a
# post-processor (the test puts the echo commands in place of @PROV@ and @POST@).
variable "source_path" { type = string }
variable "output_directory" { type = string }
variable "mount_path" { type = string }

source "chromogenic-local" "vars" {
  source_path      = var.source_path
  output_directory = var.output_directory
  mount_path       = var.mount_path
}

build {
  sources = ["source.chromogenic-local.vars"]
  provisioner "shell-local" {
    inline = ["@PROV@"]
  }
  post-processor "chromogenic-convert" {
    formats             = ["qcow2"]
    output_directory    = "${var.output_directory}/export"
    file_name           = "dev-${basename(build.Device)}"
    keep_input_artifact = true
  }
  post-processor "shell-local" {
    inline = ["@POST@"]
  }
}
