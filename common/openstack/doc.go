// Package openstackcommon is what the OpenStack faces (the chromogenic-openstack builder, the
// chromogenic-openstack-import post-processor, the chromogenic-openstack-image data source)
// share on the Packer side: the access settings and the builder's artifact ID. It only
// translates Packer settings for the cloud adapter (internal/cloud/openstack), which does
// the work; it imports no face. It trusts nothing in a template: Prepare checks every
// setting and names its field. In-house because the settings are this plugin's own (the
// openstack client's precedence of clouds.yaml and OS_* variables, see the adapter).
package openstackcommon

// BuilderID identifies artifacts of the chromogenic-openstack builder.
const BuilderID = "chromogenic.openstack"
