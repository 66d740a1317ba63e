# Move a Eucalyptus 4.x image (a Xen paravirtual guest) to OpenStack as a KVM guest, in one
# build: the original Chromogenic tool's first migration path.
#
#   chromogenic-ec2   source_emi: the instance-store EMI's bundle (its imageLocation) is read
#                     through the object store, checked (manifest signature, each part's SHA-1,
#                     the image digest), decrypted with the user's private key and unpacked,
#                     streamed, into a sparse raw working copy; or instance_id: the running
#                     instance-store instance is bundled with BundleInstance first (it keeps
#                     running; the bundle is deleted once home). skip_register: nothing goes
#                     back to Eucalyptus.
#   chromogenic-clean the guest is cleaned for reuse (virt-sysprep's Linux defaults) and, with
#                     target = "kvm", converted from Xen to KVM: consoles from hvc0/xvc0 to
#                     ttyS0, xvd* device names to vd* in fstab and the boot configuration,
#                     virtio drivers added to the initramfs, which the guest's own tool rebuilds
#                     inside the sandbox.
#   openstack-import  the working copy is converted to qcow2 on the fly and streamed into
#                     Glance of the destination cloud (clouds.yaml entry `cloud`).
#
# An EMI registered with an external kernel (eki/eri) carries no kernel in its disk: add a
# chromogenic-convert post-processor with a `bootable` block before the import to make it a
# stand-alone disk (docs/post-processors/convert.mdx).
#
# Credentials: Eucalyptus as in migrate-euca-to-euca.pkr.hcl (the user's access key in the
# environment, the user's signing key and certificate from the credentials zip; the cloud's
# certificate is fetched from the cloud); OpenStack from clouds.yaml (OS_CLIENT_CONFIG_FILE or
# clouds_file). Tested by test/migration TestAccMigrateEucalyptusToOpenStack.
#
#   packer build -var source_emi=emi-0123abcd -var ec2_endpoint=https://clc.euca.example:8773/services/compute -var s3_endpoint=https://clc.euca.example:8773/services/objectstorage -var keys_dir=$HOME/.euca -var bucket=images -var os_cloud=mycloud -var image_name=web-kvm example/migrate-euca-to-openstack.pkr.hcl

packer {
  required_version = ">= 1.11.0"
  required_plugins {
    chromogenic = {
      source  = "github.com/chromogenic/chromogenic"
      version = ">= 0.1.0"
    }
  }
}

variable "ec2_endpoint" {
  type        = string
  description = "The Eucalyptus compute service (https://CLC:8773/services/compute)."
}

variable "s3_endpoint" {
  type        = string
  description = "The Eucalyptus object store (https://CLC:8773/services/objectstorage)."
}

variable "source_emi" {
  type        = string
  default     = ""
  description = "An instance-store EMI to start from. Set this or instance_id."
}

variable "instance_id" {
  type        = string
  default     = ""
  description = "A running instance-store instance to capture with BundleInstance."
}

variable "keys_dir" {
  type        = string
  description = "Directory holding euca-pk.pem and euca-cert.pem."
}

variable "bucket" {
  type        = string
  description = "Bucket for BundleInstance output (created when missing)."
}

variable "os_cloud" {
  type        = string
  description = "The destination OpenStack cloud's name in clouds.yaml."
}

variable "clouds_file" {
  type        = string
  default     = ""
  description = "A clouds.yaml to read instead of the usual places."
}

variable "image_name" {
  type = string
}

variable "output_directory" {
  type    = string
  default = "output-euca-to-openstack"
}

variable "keep_working_copy" {
  type        = bool
  default     = false
  description = "Keep the local raw working copy after the upload."
}

source "chromogenic-ec2" "euca" {
  region              = "eucalyptus"
  custom_endpoint_ec2 = var.ec2_endpoint
  custom_endpoint_s3  = var.s3_endpoint
  source_ami          = var.source_emi
  instance_id         = var.instance_id
  skip_register       = true
  output_directory    = var.output_directory

  eucalyptus {
    user_private_key_file = "${var.keys_dir}/euca-pk.pem"
    user_cert_file        = "${var.keys_dir}/euca-cert.pem"
    bucket                = var.bucket
  }
}

build {
  sources = ["source.chromogenic-ec2.euca"]

  provisioner "shell" {
    inline = ["echo 'migrated from Eucalyptus ${var.source_emi}${var.instance_id}' > /etc/chromogenic-migration"]
  }

  provisioner "chromogenic-clean" {
    operations  = ["defaults"]
    target      = "kvm"
    report_file = "${var.output_directory}/clean-report.json"
  }

  post-processor "chromogenic-openstack-import" {
    cloud               = var.os_cloud
    clouds_file         = var.clouds_file
    image_name          = var.image_name
    image_disk_format   = "qcow2"
    keep_input_artifact = var.keep_working_copy
    metadata = {
      migrated_from = "eucalyptus"
      hw_disk_bus   = "virtio"
    }
  }
}
