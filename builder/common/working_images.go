package common

// StateWorkingImages is the state key of a guest on several disks: []string, the working
// copy of every disk, the boot disk first (working_image is the same first one). The
// open-image step attaches them together (chroot.OpenImages); absent for one disk.
const StateWorkingImages = "working_images"
