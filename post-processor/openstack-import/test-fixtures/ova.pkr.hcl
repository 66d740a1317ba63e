variable "source_path" { type = string }
variable "output_directory" { type = string }
variable "clouds_file" { type = string }
variable "image_name" { type = string }

# Two chains from one working copy: convert writes an OVA first and a qcow2, and the import
# must upload the qcow2 as it is (not the OVA); convert writes only an OVA, and the import
# reads the VMDK inside it and converts it to qcow2 on the way.
source "chromogenic-local" "ova" {
  source_path      = var.source_path
  output_directory = var.output_directory
  mount_path       = "${var.output_directory}/mnt"
}

build {
  sources = ["source.chromogenic-local.ova"]
  provisioner "shell" {
    inline = ["echo ova-chain > /etc/chromogenic-ova"]
  }

  post-processors {
    post-processor "chromogenic-convert" {
      formats             = ["ova", "qcow2"]
      file_name           = "both"
      keep_input_artifact = true
    }
    post-processor "chromogenic-openstack-import" {
      cloud               = "aio-b"
      clouds_file         = var.clouds_file
      image_name          = "${var.image_name}-both"
      keep_input_artifact = true
    }
  }

  post-processors {
    post-processor "chromogenic-convert" {
      formats             = ["ova"]
      file_name           = "only"
      keep_input_artifact = true
    }
    post-processor "chromogenic-openstack-import" {
      cloud               = "aio-b"
      clouds_file         = var.clouds_file
      image_name          = "${var.image_name}-only"
      keep_input_artifact = true
    }
  }
}
