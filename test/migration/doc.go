// Package migration holds the migration matrix: acceptance tests that move the sample Debian
// image between clouds with the real packer binary and this checkout's plugin
// (internal/packertest), one test per path, each asserting that the destination image holds
// the bytes of the provisioned working copy and the provisioner's marker file.
//
// AWS (and Eucalyptus) is the in-process wire emulator test/ec2emu; OpenStack is the
// all-in-one cloud on 127.0.0.1 (internal/openstacktest). The AWS and OpenStack paths run the
// templates of example/ themselves, so the documented templates are the tested ones. The
// local->AWS and local->OpenStack paths are tested next to their post-processors
// (post-processor/ec2-import, post-processor/openstack-import).
//
// The tests run with PACKER_ACC=1, as root.
package migration
