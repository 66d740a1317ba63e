// Package common holds what every chromogenic builder shares: the chroot configuration and
// the multistep steps that attach a local working copy and mount the guest (StepOpenImage:
// one chroot.OpenImage), offer the chroot communicator to provisioners and release everything
// again. A builder's own steps only bring the image home (from a file, Glance or EC2); from
// there on the recipe is the same.
// What a step holds goes on the build's one release stack (release.go: PushRelease,
// ReleaseAll), which the chroot steps and builder/ec2's capture volume share.
//
// The steps call the engines in internal/chroot and internal/guestfs and add Packer's UI,
// state bag and cleanup order.
package common
