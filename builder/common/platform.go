package common

import (
	"fmt"
	"runtime"
)

// RefuseUnlessLinux is the first thing a builder's Run does: every chromogenic builder
// attaches and mounts the image it works on (loop devices, mounts, chroot), which only Linux
// has. Refusing in Run rather than Prepare lets `packer validate` pass on macOS or Windows for
// a template that is built on Linux, and nothing is captured, downloaded or created first.
func RefuseUnlessLinux(builder string) error {
	if runtime.GOOS == "linux" {
		return nil
	}
	return fmt.Errorf("%s needs Linux (loop devices, mounts, chroot); this is %s/%s: run the build on a Linux host", builder, runtime.GOOS, runtime.GOARCH)
}
