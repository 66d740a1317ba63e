//go:build linux

package bootable

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/sandbox"
)

// GRUB 2 for BIOS, installed without grub-install (see doc.go): core.img made by
// grub-mkimage with every module it needs built in and an early configuration that finds the
// filesystem holding /boot by UUID; core.img written into the gap after the MBR (MBR) or into
// a BIOS boot partition (GPT); boot.img into the MBR's boot code, told where core.img starts.

const (
	grubPCDir   = "/usr/lib/grub/i386-pc"
	asideSuffix = ".pre-chromogenic"

	// Offsets in boot.img and in core.img's first sector (diskboot.img), as GRUB's
	// include/grub/i386/pc/boot.h defines them.
	bootBPBStart     = 0x03
	bootBPBEnd       = 0x5a
	bootKernelSector = 0x5c // LBA of core.img's first sector (8 bytes, little endian)
	bootDriveCheck   = 0x66 // a jump skipping the "is it a hard disk" test: NOPed for disks
	bootPartStart    = 0x1b8
	blocklistSize    = 12 // start (8), length in sectors (2), segment (2): at the end of the sector
)

// grubPCModules are built into core.img: nothing is loaded from /boot/grub/i386-pc (the guest
// needs no GRUB package), and grubConfig's insmods find them loaded.
var grubPCModules = []string{"biosdisk", "part_msdos", "part_gpt", "lvm", "ext2", "xfs", "btrfs", "search", "search_fs_uuid",
	"normal", "linux", "gzio", "serial", "terminal", "all_video", "configfile", "echo", "test"}

// grubPC is the boot code of GRUB for BIOS: boot.img (one sector) and core.img.
type grubPC struct {
	Boot, Core []byte
	Which      string
}

// addBIOSBoot puts a 1 MiB BIOS boot partition first on a GPT disk (core.img goes there);
// the other partitions move up by 1 MiB.
func (l *layout) addBIOSBoot() {
	for i := range l.Slots {
		l.Slots[i].Start += mib
	}
	l.Slots = append([]slot{{Role: roleBIOSBoot, Start: mib, Size: mib, Source: -1}}, l.Slots...)
	l.Size += mib
}

func hasGrubPC(stat func(string) error) bool {
	for _, f := range []string{"boot.img", "kernel.img", "diskboot.img", "biosdisk.mod", "linux.mod", "normal.mod"} {
		if stat(grubPCDir+"/"+f) != nil {
			return false
		}
	}
	return true
}

func hostHasGrubPC() bool {
	return hasGrubPC(func(p string) error { _, err := os.Stat(p); return err })
}

func guestHasGrubPC(r *guestfs.Root) bool {
	return hasGrubPC(func(p string) error { _, err := r.Stat(p); return err })
}

// installBIOSBoot installs the BIOS bootloader opts.Bootloader names (default: GRUB when it
// can be built, else extlinux) and returns its name for Result.Bootloaders.
func installBIOSBoot(ctx context.Context, r *guestfs.Root, disk *os.File, l *layout, e bootEntry, bootPrefix string,
	opts Options, chrootReady bool, work string, logf func(string, ...any)) (string, error) {
	if opts.Bootloader != BootloaderExtlinux {
		g, err := buildGrubPC(ctx, r, e, bootPrefix, chrootReady, opts.TrustGuest, work, logf)
		if err == nil {
			logf("bootable: installing GRUB for BIOS (%s)", g.Which)
			if err := writeGrubCfg(r, e, logf); err != nil {
				return "", err
			}
			if err := embedGrubPC(disk, l, g); err != nil {
				return "", err
			}
			return g.Which, nil
		}
		if opts.Bootloader == BootloaderGRUB {
			return "", err
		}
		if e.SubvolDir != "" {
			return "", fmt.Errorf("%v, and %w", err, extlinuxSubvolumeError(e.SubvolDir))
		}
		logf("bootable: %v: installing extlinux instead", err)
	}
	if e.SubvolDir != "" {
		return "", extlinuxSubvolumeError(e.SubvolDir)
	}
	logf("bootable: installing extlinux (BIOS)")
	if err := installExtlinux(ctx, r, disk, l.Label == "gpt", e); err != nil {
		return "", err
	}
	return "extlinux", nil
}

// grubEarlyConfig is built into core.img: it finds the filesystem holding /boot and sets the
// prefix, from which normal mode reads grub.cfg.
func grubEarlyConfig(e bootEntry, bootPrefix string) string {
	return fmt.Sprintf("search --no-floppy --fs-uuid --set=root %s\nset prefix=($root)%s/grub\n", e.BootFS, bootPrefix)
}

func grubMkimageArgs(dir, out, early, bootPrefix string) []string {
	return append([]string{"-O", "i386-pc", "-d", dir, "-o", out, "-c", early, "-p", bootPrefix + "/grub"}, grubPCModules...)
}

// buildGrubPC makes boot.img and core.img: with the host's grub-mkimage and modules
// (grub-pc-bin) when the host has them, else with the guest's own grub-mkimage in the sandbox
// (or, trusted, the chroot) when the guest has GRUB's i386-pc modules. The guest's output is
// data written into the new disk only: nothing of it runs on the host.
func buildGrubPC(ctx context.Context, r *guestfs.Root, e bootEntry, bootPrefix string, chrootReady, trust bool,
	work string, logf func(string, ...any)) (*grubPC, error) {
	early := grubEarlyConfig(e, bootPrefix)
	if hostHasGrubPC() {
		cfg, core := filepath.Join(work, "grub-early.cfg"), filepath.Join(work, "core.img")
		if err := os.WriteFile(cfg, []byte(early), 0o644); err != nil {
			return nil, err
		}
		defer os.Remove(cfg)
		defer os.Remove(core)
		if err := run(ctx, "grub-mkimage", grubMkimageArgs(grubPCDir, core, cfg, bootPrefix)...); err != nil {
			return nil, err
		}
		g := &grubPC{Which: "grub-pc (host's grub-mkimage)"}
		var err error
		if g.Core, err = os.ReadFile(core); err != nil {
			return nil, err
		}
		if g.Boot, err = os.ReadFile(grubPCDir + "/boot.img"); err != nil {
			return nil, err
		}
		return g, checkGrubPC(g)
	}
	if !guestHasGrubPC(r) {
		return nil, fmt.Errorf("GRUB for BIOS needs GRUB's i386-pc modules: the guest has none (%s) and the host neither (apt-get install grub-pc-bin)", grubPCDir)
	}
	prog := findGuestProgram(r, "grub-mkimage", "grub2-mkimage")
	if prog == "" {
		return nil, fmt.Errorf("the guest has GRUB's i386-pc modules but no grub-mkimage, and the host has no GRUB for BIOS (apt-get install grub-pc-bin)")
	}
	if !chrootReady {
		return nil, fmt.Errorf("the guest's %s cannot run (no sandbox or chroot), and the host has no GRUB for BIOS (apt-get install grub-pc-bin)", prog)
	}
	const gcfg, gout = "/tmp/chromogenic-grub-early.cfg", "/tmp/chromogenic-core.img"
	if err := r.WriteFile(gcfg, []byte(early), 0o644); err != nil {
		return nil, err
	}
	out, err := sandbox.Options{TrustGuest: trust}.Output(ctx, r.Dir(), append([]string{prog}, grubMkimageArgs(grubPCDir, gout, gcfg, bootPrefix)...))
	_ = r.Remove(gcfg)
	if err != nil {
		_ = r.Remove(gout)
		return nil, fmt.Errorf("the guest's %s: %v: %s", prog, err, lastLine(string(out)))
	}
	g := &grubPC{Which: "grub-pc (guest's " + prog + ")"}
	g.Core, err = r.ReadFileLimit(gout, mib)
	_ = r.Remove(gout)
	if err != nil {
		return nil, fmt.Errorf("the guest's core.img: %w", err)
	}
	if g.Boot, err = r.ReadFileLimit(grubPCDir+"/boot.img", 512); err != nil {
		return nil, fmt.Errorf("the guest's boot.img: %w", err)
	}
	return g, checkGrubPC(g)
}

// checkGrubPC checks the shape of the images (they may come from the guest): boot.img one
// sector with the boot signature; core.img whole sectors whose first sector's blocklist counts
// the others.
func checkGrubPC(g *grubPC) error {
	if len(g.Boot) != 512 || g.Boot[510] != 0x55 || g.Boot[511] != 0xaa {
		return fmt.Errorf("%s: boot.img is not a 512-byte boot sector", g.Which)
	}
	if n := len(g.Core) % 512; n != 0 {
		g.Core = append(g.Core, make([]byte, 512-n)...)
	}
	sectors := len(g.Core) / 512
	if sectors < 2 || int(binary.LittleEndian.Uint16(g.Core[512-blocklistSize+8:])) != sectors-1 {
		return fmt.Errorf("%s: core.img (%d bytes) is not a GRUB i386-pc core image", g.Which, len(g.Core))
	}
	return nil
}

// embedGrubPC writes core.img into the post-MBR gap (MBR) or the BIOS boot partition (GPT)
// and boot.img's code into the MBR, pointing at core.img's first sector, as grub-bios-setup
// does: the disk's partition table and signature are kept, and the BIOS drive check enabled
// (BIOSes that pass a wrong drive number).
func embedGrubPC(disk *os.File, l *layout, g *grubPC) error {
	var start, end int64
	if l.Label == "dos" {
		start, end = 512, l.Slots[0].Start
	} else if s := l.slot(roleBIOSBoot); s != nil {
		start, end = s.Start, s.Start+s.Size
	} else {
		return fmt.Errorf("GRUB for BIOS on GPT needs a BIOS boot partition")
	}
	if int64(len(g.Core)) > end-start {
		return fmt.Errorf("core.img (%d bytes) does not fit in the %d bytes before the first partition", len(g.Core), end-start)
	}
	lba := uint64(start / 512)
	core := append([]byte(nil), g.Core...)
	binary.LittleEndian.PutUint64(core[512-blocklistSize:], lba+1)
	if _, err := disk.WriteAt(core, start); err != nil {
		return fmt.Errorf("write core.img: %w", err)
	}
	mbr := make([]byte, 512)
	if _, err := disk.ReadAt(mbr, 0); err != nil {
		return fmt.Errorf("read the MBR: %w", err)
	}
	boot := append([]byte(nil), g.Boot...)
	copy(boot[bootBPBStart:bootBPBEnd], mbr[bootBPBStart:bootBPBEnd])
	binary.LittleEndian.PutUint64(boot[bootKernelSector:], lba)
	boot[bootDriveCheck], boot[bootDriveCheck+1] = 0x90, 0x90
	copy(mbr[:bootPartStart], boot[:bootPartStart])
	if _, err := disk.WriteAt(mbr, 0); err != nil {
		return fmt.Errorf("write the MBR boot code: %w", err)
	}
	return nil
}

// writeGrubCfg writes /boot/grub/grub.cfg in-root. A /boot/grub that is not a directory (a
// symlink, perhaps to a host-looking path) is renamed aside and a real directory made; a
// grub.cfg the guest had is kept beside the new one.
func writeGrubCfg(r *guestfs.Root, e bootEntry, logf func(string, ...any)) error {
	const dir = "/boot/grub"
	fi, err := r.Lstat(dir)
	switch {
	case err == nil && fi.IsDir():
		if cfg, err := r.Lstat(grubCfgPath); err == nil && !cfg.Mode().IsRegular() {
			if err := r.Remove(grubCfgPath); err != nil {
				return err
			}
			logf("bootable: the guest's %s was not a file (%s): removed", grubCfgPath, cfg.Mode().Type())
		} else if err == nil {
			if _, err := r.Lstat(grubCfgPath + asideSuffix); errors.Is(err, fs.ErrNotExist) {
				if err := r.Rename(grubCfgPath, grubCfgPath+asideSuffix); err != nil {
					return err
				}
				logf("bootable: the guest's %s kept as %s%s", grubCfgPath, grubCfgPath, asideSuffix)
			}
		}
	case err == nil:
		what := "a " + fi.Mode().Type().String()
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			what = "a symlink"
		case fi.Mode().IsRegular():
			what = "a file"
		}
		if err := r.Rename(dir, dir+asideSuffix); err != nil {
			return fmt.Errorf("move the guest's %s (%s) aside: %w", dir, what, err)
		}
		logf("bootable: the guest's %s was not a directory (%s): kept as %s%s", dir, what, dir, asideSuffix)
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	if err := r.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cfg := strings.Replace(grubConfig(e), "(bootable export)", "(bootable export; GRUB for BIOS, modules built into core.img)", 1)
	return r.WriteFile(grubCfgPath, []byte(cfg), 0o644)
}
