//go:build linux

package bootable

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"
)

// Artifact state keys a builder or an earlier post-processor may set to hand over the
// external kernel and ramdisk of an image (Eucalyptus eki/eri, OpenStack kernel_id and
// ramdisk_id): host paths of the downloaded files.
const (
	StateKernelPath  = "kernel_path"
	StateRamdiskPath = "ramdisk_path"
)

// ErrNoKernel is wrapped by the error of an image that has no kernel to boot.
var ErrNoKernel = errors.New("no usable kernel")

// KernelVersion reads the version of a Linux x86 kernel image (bzImage) from its setup
// header: the "HdrS" magic at 0x202 and the kernel_version string the pointer at 0x20e
// names (boot protocol 2.00 and later).
func KernelVersion(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	hdr := make([]byte, 0x210)
	if _, err := io.ReadFull(f, hdr); err != nil {
		return "", fmt.Errorf("kernel %s: not a Linux bzImage (too short)", path)
	}
	if string(hdr[0x202:0x206]) != "HdrS" {
		return "", fmt.Errorf("kernel %s: not a Linux x86 bzImage (no HdrS setup header)", path)
	}
	ptr := int64(binary.LittleEndian.Uint16(hdr[0x20e:]))
	if ptr == 0 {
		return "", fmt.Errorf("kernel %s: its setup header records no version", path)
	}
	buf := make([]byte, 256)
	n, _ := f.ReadAt(buf, ptr+0x200)
	buf = buf[:n]
	if i := bytes.IndexByte(buf, 0); i >= 0 {
		buf = buf[:i]
	}
	fields := strings.Fields(string(buf))
	if len(fields) == 0 {
		return "", fmt.Errorf("kernel %s: empty version string", path)
	}
	return fields[0], nil
}

// initrdName is the guest's usual initramfs file name for a kernel version.
func initrdName(tool, version string) string {
	switch tool {
	case "dracut":
		return "initramfs-" + version + ".img"
	case "update-initramfs":
		return "initrd.img-" + version
	}
	return "initrd-" + version + ".img"
}

// copyIn copies the host file src to the guest path dst (created or replaced), mode perm.
func copyIn(r *guestfs.Root, src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := r.OpenFile(dst, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC|syscall.O_NOFOLLOW, perm)
	if err != nil {
		return fmt.Errorf("create %s in the guest: %w", dst, err)
	}
	_, err = io.Copy(out, in)
	if err1 := out.Sync(); err == nil {
		err = err1
	}
	if err1 := out.Close(); err == nil {
		err = err1
	}
	if err != nil {
		return fmt.Errorf("copy %s to the guest's %s: %w", src, dst, err)
	}
	return nil
}

// guestModuleDirs lists the kernel versions the guest has modules for.
func guestModuleDirs(r *guestfs.Root) []string {
	var v []string
	for _, d := range []string{"/lib/modules", "/usr/lib/modules"} {
		ents, err := r.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if e.IsDir() {
				v = append(v, e.Name())
			}
		}
		if len(v) > 0 {
			break
		}
	}
	return v
}

func hasModules(r *guestfs.Root, version string) bool {
	for _, d := range []string{"/lib/modules/", "/usr/lib/modules/"} {
		if fi, err := r.Stat(d + version); err == nil && fi.IsDir() {
			return true
		}
	}
	return false
}
