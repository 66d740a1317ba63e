# For full specification of attributes, see https://developer.hashicorp.com/packer/docs/plugins/creation/integration-metadata
integration {
  name = "Chromogenic"
  description = "Capture, clean, convert and migrate machine images across clouds."
  identifier = "packer/chromogenic/chromogenic"
  component {
    type = "builder"
    name = "chromogenic-ec2 - Builders"
    slug = "ec2"
  }
  component {
    type = "builder"
    name = "chromogenic-local - Builders"
    slug = "local"
  }
  component {
    type = "builder"
    name = "chromogenic-openstack - Builders"
    slug = "openstack"
  }
  component {
    type = "provisioner"
    name = "chromogenic-clean - Provisioners"
    slug = "clean"
  }
  component {
    type = "post-processor"
    name = "chromogenic-convert - Post-Processors"
    slug = "convert"
  }
  component {
    type = "post-processor"
    name = "chromogenic-ec2-import - Post-Processors"
    slug = "ec2-import"
  }
  component {
    type = "post-processor"
    name = "chromogenic-openstack-import - Post-Processors"
    slug = "openstack-import"
  }
  component {
    type = "data-source"
    name = "chromogenic-ec2-image - Data Sources"
    slug = "ec2-image"
  }
  component {
    type = "data-source"
    name = "chromogenic-openstack-image - Data Sources"
    slug = "openstack-image"
  }
}
