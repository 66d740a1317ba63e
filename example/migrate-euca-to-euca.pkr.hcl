# Rebuild a Eucalyptus 4.x image in place, or capture a running instance-store instance, in
# one build (Eucalyptus has no EBS direct API: images move as instance-store bundles):
#
#   chromogenic-ec2   source_emi: the instance-store EMI's bundle (its imageLocation) is read
#                     through the object store; or instance_id: the running instance-store
#                     instance is bundled with BundleInstance into the bucket (it keeps
#                     running; the bundle is deleted once home). The manifest's signature, each
#                     part's SHA-1 and the image's digest are checked; the parts are decrypted
#                     with the user's private key and unpacked, streamed, into a sparse raw
#                     working copy.
#   provisioners      run inside the guest through a chroot.
#   register          the working copy is bundled (tar, gzip, AES-128-CBC, 10 MiB parts,
#                     manifest signed with the user's key, encrypted to the cloud's and the
#                     user's certificates), uploaded to the bucket and registered with
#                     RegisterImage(ImageLocation): a new instance-store EMI. A failure
#                     deregisters it and deletes the uploaded bundle.
#
# Credentials: the user's access key (eucarc's AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the
# environment) and the user's signing key and certificate (EC2_PRIVATE_KEY / EC2_CERT), from the
# credentials zip. The cloud's certificate is fetched from the cloud (DescribeServiceCertificates);
# set cloud_cert_file to pin it instead.
#
#   packer build -var source_emi=emi-0123abcd -var clc=clc.euca.example -var keys_dir=$HOME/.euca -var bucket=images -var emi_name=web-rebuilt example/migrate-euca-to-euca.pkr.hcl

packer {
  required_version = ">= 1.11.0"
  required_plugins {
    chromogenic = {
      source  = "github.com/chromogenic/chromogenic"
      version = ">= 0.1.0"
    }
  }
}

variable "clc" {
  type        = string
  description = "The cloud controller's host name (services on port 8773)."
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
  description = "Bucket for BundleInstance output and the new bundle (created when missing)."
}

variable "emi_name" {
  type = string
}

variable "output_directory" {
  type    = string
  default = "output-euca-to-euca"
}

source "chromogenic-ec2" "euca" {
  region              = "eucalyptus"
  custom_endpoint_ec2 = "https://${var.clc}:8773/services/compute"
  custom_endpoint_s3  = "https://${var.clc}:8773/services/objectstorage"
  source_ami          = var.source_emi
  instance_id         = var.instance_id
  ami_name            = var.emi_name
  tags = {
    rebuilt_by = "chromogenic"
  }
  output_directory = var.output_directory

  eucalyptus {
    user_private_key_file = "${var.keys_dir}/euca-pk.pem"
    user_cert_file        = "${var.keys_dir}/euca-cert.pem"
    bucket                = var.bucket
    register              = "bundle"
  }
}

build {
  sources = ["source.chromogenic-ec2.euca"]

  provisioner "shell" {
    inline = ["echo 'rebuilt from ${var.source_emi}${var.instance_id}' > /etc/chromogenic-rebuilt"]
  }

  provisioner "chromogenic-clean" {
    operations  = ["defaults"]
    report_file = "${var.output_directory}/clean-report.json"
  }
}
