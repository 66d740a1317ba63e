//go:build !linux

package bootable

import (
	"context"
	"fmt"
	"runtime"
)

// Keys of the external kernel and ramdisk a builder hands on in its artifact (as in kernel.go).
const (
	StateKernelPath  = "kernel_path"
	StateRamdiskPath = "ramdisk_path"
)

// Options configure Make (as in bootable.go).
type Options struct {
	SourceFormat    string
	OtherDisks      []string
	Firmware        string
	Bootloader      string
	Kernel, Ramdisk string
	ExtraSize       int64
	LVM             string
	WorkDir         string
	TrustGuest      bool
	RootPartition   int
	RootVolume      string
	RootSubvolume   string
	Logf            func(format string, args ...any)
}

// Result describes the disk Make wrote (as in bootable.go).
type Result struct {
	Firmware      string
	PartitionType string
	Bootloaders   []string
	KernelVersion string
	Kernel        string
	Initramfs     string
	RamdiskAsIs   bool
	Cmdline       string
	RootUUID      string
	RootVolume    string
	RootSubvolume string
	Size          int64
}

// KernelVersion is not read elsewhere than Linux: Make, which needs the kernel, refuses to
// run there, so a template validated on macOS or Windows is not held to it.
func KernelVersion(path string) (string, error) { return "", nil }

// Make refuses: a bootable disk is partitioned, mounted and given a bootloader through loop
// devices, mounts and guest tools in the sandbox.
func Make(ctx context.Context, src, dst string, opts Options) (*Result, error) {
	return nil, fmt.Errorf("chromogenic-convert bootable needs Linux (loop devices, mounts, guest tools in a sandbox); this is %s/%s", runtime.GOOS, runtime.GOARCH)
}
