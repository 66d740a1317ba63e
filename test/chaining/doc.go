// Package chaining holds the acceptance tests of docs/ownership.md: what a build owns and
// what it deletes, checked with the real packer binary (internal/packertest) on every
// builder of the plugin.
//
// Each builder (chromogenic-local; chromogenic-openstack in image mode on the all-in-one
// cloud; chromogenic-ec2 registering an AMI on AWS and an EMI on Eucalyptus, both emulated
// by test/ec2emu) runs one packer build with three post-processor chains: [convert],
// [import], [convert -> import], where the import is chromogenic-openstack-import into
// project B (local and OpenStack builders) or chromogenic-ec2-import into the same emulator.
// It runs twice: every post-processor with keep_input_artifact = false, then = true. After
// each build the tests list what exists and check it against the rules: the builder's
// published image (Glance image, AMI and snapshot, EMI and bundle) and every import's image
// are there and usable; chain 1's convert files are there; chain 3's convert files and the
// builder's working copy are there only when kept; no mount, loop device or lease is left;
// nothing else of the build is in the cloud (no half image).
//
// Interrupted builds run the same chains: SIGINT while the import of chain 2 uploads
// (OpenStack and AWS) must remove the import's half image and keep what the builder
// published; SIGINT during the builder must leave nothing of the build in the cloud.
//
// The guest is testimages.Tiny (16 MiB), so the builds cost packer's own time, and they run
// in parallel: the whole package takes a few minutes. Everything the tests make is removed
// when they end. The tests need PACKER_ACC=1 and run as root.
package chaining
