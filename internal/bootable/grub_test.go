//go:build linux

package bootable

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

// hostGrubPC builds boot.img and core.img with the host's GRUB (grub-pc-bin, installed by
// scripts/install-deps.sh).
func hostGrubPC(t *testing.T) *grubPC {
	t.Helper()
	if !hostHasGrubPC() {
		t.Fatalf("the host has no GRUB for BIOS in %s (scripts/install-deps.sh installs grub-pc-bin)", grubPCDir)
	}
	g, err := buildGrubPC(context.Background(), nil, bootEntry{BootFS: "0123-4567"}, "/boot", false, false, t.TempDir(), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestEmbedGrubPC writes GRUB's boot code into an MBR disk (core.img in the post-MBR gap) and
// a hybrid GPT disk (core.img in the BIOS boot partition first on the disk) and reads back
// what the BIOS will: boot.img's code pointing at core.img's first sector, core.img's
// blocklist pointing at the rest, the partition tables untouched.
func TestEmbedGrubPC(t *testing.T) {
	g := hostGrubPC(t)
	if !strings.Contains(g.Which, "host") {
		t.Errorf("built by %q, want the host's grub-mkimage", g.Which)
	}
	both, err := planLayout(FirmwareBoth, []srcFS{{Size: 100 * mib, FSType: "ext4", Root: true}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	both.addBIOSBoot()
	bios, err := planLayout(FirmwareBIOS, []srcFS{{Size: 100 * mib, FSType: "ext4", Root: true}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		l   *layout
		lba uint64
	}{{bios, 1}, {both, 2048}} {
		before, path := writeLayout(t, tc.l)
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := embedGrubPC(f, tc.l, g); err != nil {
			t.Fatal(err)
		}
		f.Close()
		disk, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		after := readTable(t, path)
		if len(after.PartitionTable.Partitions) != len(before.PartitionTable.Partitions) || after.PartitionTable.Label != before.PartitionTable.Label {
			t.Errorf("%s: table changed: %+v -> %+v", tc.l.Firmware, before.PartitionTable, after.PartitionTable)
		}
		if out, err := exec.Command("sfdisk", "--verify", path).CombinedOutput(); err != nil {
			t.Errorf("%s: sfdisk --verify: %v: %s", tc.l.Firmware, err, out)
		}
		if !bytes.Equal(disk[:bootKernelSector], g.Boot[:bootKernelSector]) || !bytes.Equal(disk[0x68:0x1b8], g.Boot[0x68:0x1b8]) {
			t.Errorf("%s: MBR boot code is not GRUB's boot.img", tc.l.Firmware)
		}
		if got := binary.LittleEndian.Uint64(disk[bootKernelSector:]); got != tc.lba {
			t.Errorf("%s: boot.img points at sector %d, want %d", tc.l.Firmware, got, tc.lba)
		}
		if disk[bootDriveCheck] != 0x90 || disk[510] != 0x55 || disk[511] != 0xaa {
			t.Errorf("%s: drive check %x, signature %x", tc.l.Firmware, disk[bootDriveCheck:bootDriveCheck+2], disk[510:])
		}
		core := disk[tc.lba*512 : tc.lba*512+uint64(len(g.Core))]
		bl := core[512-blocklistSize:]
		if start, n := binary.LittleEndian.Uint64(bl), binary.LittleEndian.Uint16(bl[8:]); start != tc.lba+1 || int(n) != len(g.Core)/512-1 {
			t.Errorf("%s: core.img blocklist: sectors %d+%d", tc.l.Firmware, start, n)
		}
		if !bytes.Equal(core[512:], g.Core[512:]) || !bytes.Equal(core[:512-blocklistSize], g.Core[:512-blocklistSize]) {
			t.Errorf("%s: core.img not written as built", tc.l.Firmware)
		}
		if tc.l.Label == "gpt" {
			p := after.PartitionTable.Partitions[0]
			if p.Type != gptBIOSBoot || p.Start != 2048 || p.Size != 2048 {
				t.Errorf("BIOS boot partition %+v", p)
			}
			if esp := after.PartitionTable.Partitions[1]; esp.Type != gptESP || esp.Start != 4096 {
				t.Errorf("ESP %+v after the BIOS boot partition", esp)
			}
		}
	}
	// Images of the wrong shape (they may come from a guest) are refused.
	for name, bad := range map[string]*grubPC{
		"short boot.img": {Boot: g.Boot[:400], Core: g.Core},
		"core.img":       {Boot: g.Boot, Core: g.Core[:1024]},
	} {
		if err := checkGrubPC(bad); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	small := &layout{Label: "dos", Slots: []slot{{Start: 64 * 512}}}
	if err := embedGrubPC(nil, small, g); err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Errorf("a 63-sector gap: %v", err)
	}
}

// mountRO mounts the filesystem at off in image read-only and returns the mount point.
func mountRO(t *testing.T, image string, off, size int64, rw bool) string {
	t.Helper()
	dir := t.TempDir()
	opts := "ro,loop,offset=" + strconv.FormatInt(off, 10)
	if size > 0 {
		opts += ",sizelimit=" + strconv.FormatInt(size, 10)
	}
	if rw {
		opts = strings.Replace(opts, "ro,", "rw,", 1)
	}
	if out, err := exec.Command("mount", "-o", opts, image, dir).CombinedOutput(); err != nil {
		t.Fatalf("mount %s: %v: %s", image, err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

// TestGrubHostileGuestAndExtlinux: a guest whose /boot/grub is a symlink to a host-looking
// directory gets GRUB for BIOS (the default) with a real /boot/grub; the host directory, a
// canary, stays empty and the guest's link is kept aside. The same guest with bootloader
// extlinux gets syslinux's MBR code and ldlinux.sys (no boot: the boot tests boot GRUB).
func TestGrubHostileGuestAndExtlinux(t *testing.T) {
	testtier.Acceptance(t, "two bootable disks with initramfs rebuilds")
	dir := t.TempDir()
	img, kernel, ramdisk := testimages.Eucalyptus(t, dir)
	canary := filepath.Join(dir, "canary")
	if err := os.Mkdir(canary, 0o755); err != nil {
		t.Fatal(err)
	}
	m := mountRO(t, img, 0, 0, true)
	if err := os.MkdirAll(filepath.Join(m, "boot"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(canary, filepath.Join(m, "boot/grub")); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("umount", m).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v: %s", err, out)
	}

	dst := filepath.Join(dir, "grub.raw")
	res := makeDisk(t, img, dst, Options{Firmware: FirmwareBIOS, Kernel: kernel, Ramdisk: ramdisk})
	if len(res.Bootloaders) != 1 || !strings.HasPrefix(res.Bootloaders[0], "grub-pc") {
		t.Errorf("bootloaders %v, want GRUB for BIOS by default", res.Bootloaders)
	}
	if left, _ := os.ReadDir(canary); len(left) > 0 {
		t.Errorf("the guest's /boot/grub symlink led a write to the host: %s holds %v", canary, left)
	}
	root := readTable(t, dst).PartitionTable.Partitions[0]
	gm := mountRO(t, dst, root.Start*512, root.Size*512, false)
	if target, err := os.Readlink(filepath.Join(gm, "boot/grub.pre-chromogenic")); err != nil || target != canary {
		t.Errorf("the guest's /boot/grub link not kept aside: %q, %v", target, err)
	}
	if fi, err := os.Lstat(filepath.Join(gm, "boot/grub")); err != nil || !fi.IsDir() {
		t.Errorf("/boot/grub not a real directory: %v %v", fi, err)
	}
	mbr := make([]byte, 512)
	if f, err := os.Open(dst); err == nil {
		f.ReadAt(mbr, 0)
		f.Close()
	}
	if binary.LittleEndian.Uint64(mbr[bootKernelSector:]) != 1 {
		t.Errorf("MBR boot code does not point at core.img in sector 1: %x", mbr[:0x70])
	}

	ext := filepath.Join(dir, "extlinux.raw")
	res = makeDisk(t, img, ext, Options{Firmware: FirmwareBIOS, Bootloader: BootloaderExtlinux, Kernel: kernel, Ramdisk: ramdisk})
	if len(res.Bootloaders) != 1 || res.Bootloaders[0] != "extlinux" {
		t.Errorf("bootloaders %v, want extlinux", res.Bootloaders)
	}
	code, err := os.ReadFile(filepath.Join(syslinuxDirs[0], "mbr.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if f, err := os.Open(ext); err == nil {
		f.ReadAt(mbr, 0)
		f.Close()
	}
	if len(code) > 440 {
		code = code[:440]
	}
	if !bytes.Equal(mbr[:len(code)], code) {
		t.Errorf("MBR boot code is not syslinux's mbr.bin")
	}
	root = readTable(t, ext).PartitionTable.Partitions[0]
	em := mountRO(t, ext, root.Start*512, root.Size*512, false)
	if fi, err := os.Stat(filepath.Join(em, "boot/extlinux/ldlinux.sys")); err != nil || fi.Size() == 0 {
		t.Errorf("ldlinux.sys: %v", err)
	}
	if left, _ := os.ReadDir(canary); len(left) > 0 {
		t.Errorf("host canary %s holds %v", canary, left)
	}
	checkReleased(t, img)
}
