variable "source_path" { type = string }
variable "output_directory" { type = string }
variable "convert_directory" { type = string }

source "chromogenic-local" "conv" {
  source_path      = var.source_path
  output_directory = var.output_directory
  mount_path       = "${var.output_directory}/mnt"
}

build {
  sources = ["source.chromogenic-local.conv"]

  provisioner "shell" {
    inline = ["echo converted-by-chromogenic > /etc/chromogenic-convert-marker"]
  }

  provisioner "chromogenic-clean" {
    operations  = ["machine-id", "bash-history", "ssh-hostkeys"]
    report_file = "${var.output_directory}-clean.json"
  }

  post-processors {
    post-processor "chromogenic-convert" {
      formats             = ["qcow2", "vmdk", "vhd", "ova", "raw"]
      output_directory    = var.convert_directory
      file_name           = "{{.BuildName}}-disk"
      checksum_types      = ["sha256"]
      keep_input_artifact = true
      file_mode           = "0640"
      vhd {
        subformat = "fixed"
      }
      qcow2 {
        compression = "zstd"
      }
      ova {
        cpus   = 2
        memory = 2048
      }
    }
    post-processor "manifest" {
      output = "${var.convert_directory}-manifest.json"
    }
  }
}
