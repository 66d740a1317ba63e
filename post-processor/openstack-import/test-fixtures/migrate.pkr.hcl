variable "clouds_file" { type = string }
variable "instance_id" { type = string }
variable "image_name" { type = string }

# Snapshot a server of project A, then migrate the snapshot to project B twice: as it is
# (qcow2, streamed Glance to Glance, sent by the interoperable import) and converted to raw
# (read in place through Range requests, plain upload).
source "chromogenic-openstack" "snap" {
  cloud       = "aio-a"
  clouds_file = var.clouds_file
  instance_id = var.instance_id
  image_name  = "${var.image_name}-snap"
  mode        = "snapshot"
}

build {
  sources = ["source.chromogenic-openstack.snap"]

  post-processor "chromogenic-openstack-import" {
    source {
      cloud       = "aio-a"
      clouds_file = var.clouds_file
    }
    cloud               = "aio-b"
    clouds_file         = var.clouds_file
    image_name          = "${var.image_name}-qcow2"
    import_method       = "glance-direct"
    keep_input_artifact = true
    properties = {
      migrated_from = "aio-a"
    }
  }

  post-processor "chromogenic-openstack-import" {
    source {
      cloud       = "aio-a"
      clouds_file = var.clouds_file
    }
    cloud               = "aio-b"
    clouds_file         = var.clouds_file
    image_name          = "${var.image_name}-raw"
    disk_format         = "raw"
    keep_input_artifact = true
  }
}
