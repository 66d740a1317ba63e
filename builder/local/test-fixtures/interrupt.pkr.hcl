variable "source_path" { type = string }
variable "output_directory" { type = string }
variable "mount_path" { type = string }

source "chromogenic-local" "interrupt" {
  source_path      = var.source_path
  output_directory = var.output_directory
  mount_path       = var.mount_path
}

build {
  sources = ["source.chromogenic-local.interrupt"]
  provisioner "shell" {
    # A provisioner that ignores SIGINT and keeps a file open in the guest: the builder has to
    # kill it to release the mounts.
    inline = ["trap '' INT TERM; exec 3>/var/tmp/held; echo PROVISIONER-SLEEPING; sleep 600"]
  }
}
