//go:build linux

package bootable

import (
	"bytes"
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
)

// markBootPartition moves the BIOS boot mark from the root's partition to boot, the new
// disk's separate /boot partition, where extlinux is installed: mbr.bin starts the active MBR
// partition, gptmbr.bin the one with the LegacyBIOSBootable attribute. The table is written
// before any boot code, and sfdisk keeps the first 440 bytes as they are. A disk for EFI only
// is left alone.
func markBootPartition(disk string, l *layout, boot *chroot.Partition) error {
	if l.Firmware == FirmwareEFI || boot == nil || boot.Number < 1 {
		return nil
	}
	n := strconv.Itoa(boot.Number)
	if l.Label == "dos" {
		return sfdiskRun(disk, "--activate", disk, n)
	}
	for i, s := range l.Slots {
		if s.Role == roleRoot && i+1 != boot.Number {
			if err := sfdiskRun(disk, "--part-attrs", disk, strconv.Itoa(i+1), ""); err != nil {
				return err
			}
		}
	}
	return sfdiskRun(disk, "--part-attrs", disk, n, "LegacyBIOSBootable")
}

func sfdiskRun(disk string, args ...string) error {
	cmd := exec.Command("sfdisk", append([]string{"-q", "--no-reread", "--no-tell-kernel"}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("sfdisk %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}
