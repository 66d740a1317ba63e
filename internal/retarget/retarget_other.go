//go:build !linux

package retarget

// KVM is the one retargeting target (as in retarget.go); retargeting runs guest tools in the
// sandbox and so needs Linux.
const KVM = "kvm"
