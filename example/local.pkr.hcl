# The main job: capture the built-in sample image (a bootable Debian 12 disk, made by
# scripts/images/sample-image.sh), work inside it through the chroot, clean it, and export it:
# output-sample/ holds the sparse raw working copy, a stream-optimized VMDK and checksums.
#
#   make run-example      (or: packer build -var source_path=IMAGE example/local.pkr.hcl)

packer {
  required_version = ">= 1.11.0"
  required_plugins {
    chromogenic = {
      source  = "github.com/chromogenic/chromogenic"
      version = ">= 0.1.0"
    }
  }
}

variable "source_path" {
  type        = string
  description = "The disk image to start from (raw or qcow2)."
}

variable "output_directory" {
  type    = string
  default = "output-sample"
}

source "chromogenic-local" "sample" {
  source_path      = var.source_path
  output_directory = var.output_directory
}

build {
  sources = ["source.chromogenic-local.sample"]

  provisioner "shell" {
    inline = [
      ". /etc/os-release && echo \"Working inside $PRETTY_NAME\"",
      "echo 'built by packer-plugin-chromogenic' > /etc/chromogenic-release",
    ]
  }

  provisioner "shell-local" {
    inline = ["echo 'guest mounted at ${build.MountPath} from ${build.Device}'"]
  }

  provisioner "chromogenic-clean" {
    operations  = ["defaults"]
    report_file = "${var.output_directory}/clean-report.json"
  }

  post-processor "chromogenic-convert" {
    formats             = ["vmdk"]
    checksum_types      = ["sha256"]
    keep_input_artifact = true
  }
}
