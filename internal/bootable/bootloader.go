//go:build linux

package bootable

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/sandbox"
)

// bootEntry is what the bootloader starts.
type bootEntry struct {
	Title   string
	Kernel  string // path on the filesystem holding /boot ("/boot/vmlinuz-...", "/vmlinuz-...", "/@/boot/vmlinuz-...")
	Initrd  string // same, "" for none
	Cmdline string
	BootFS  string // UUID of the filesystem holding the kernel
	// SubvolDir is the btrfs root subvolume's path from the top level ("/@") when the kernel
	// is in that subvolume's /boot: Kernel and Initrd start with it; extlinux cannot boot it.
	SubvolDir string
}

// Syslinux's boot code on the host (syslinux-common).
var syslinuxDirs = []string{"/usr/lib/syslinux/mbr", "/usr/lib/SYSLINUX", "/usr/share/syslinux"}

func syslinuxFile(name string) (string, error) {
	for _, d := range syslinuxDirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("syslinux boot code %s not found on the host (install syslinux-common)", name)
}

func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// hostPath returns the host path of guest directory p, resolved in-root and checked to lie
// below the guest root (a guest symlink cannot redirect host tools elsewhere).
func hostPath(r *guestfs.Root, p string) (string, error) {
	fd, err := r.OpenPath(p, false)
	if err != nil {
		return "", err
	}
	defer fd.Close()
	hp, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(fd.Fd())))
	if err != nil {
		return "", err
	}
	if hp != r.Dir() && !strings.HasPrefix(hp, r.Dir()+"/") {
		return "", fmt.Errorf("guest path %s resolves outside the guest root (%s)", p, hp)
	}
	return hp, nil
}

// installExtlinux writes /boot/extlinux/extlinux.conf and installs extlinux (the host's)
// into the filesystem holding /boot; then the MBR boot code (mbr.bin, or gptmbr.bin on GPT)
// goes into the first 440 bytes of disk.
func installExtlinux(ctx context.Context, r *guestfs.Root, disk *os.File, gpt bool, e bootEntry) error {
	if _, err := exec.LookPath("extlinux"); err != nil {
		return fmt.Errorf("BIOS boot needs extlinux on the host (apt-get install extlinux syslinux-common)")
	}
	mbrName := "mbr.bin"
	if gpt {
		mbrName = "gptmbr.bin"
	}
	mbrPath, err := syslinuxFile(mbrName)
	if err != nil {
		return err
	}
	if err := r.MkdirAll("/boot/extlinux", 0o755); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by chromogenic (bootable export).\nDEFAULT linux\nTIMEOUT 10\nPROMPT 0\nSERIAL 0 115200\n")
	fmt.Fprintf(&b, "LABEL linux\n  MENU LABEL %s\n  LINUX %s\n", e.Title, e.Kernel)
	if e.Initrd != "" {
		fmt.Fprintf(&b, "  INITRD %s\n", e.Initrd)
	}
	fmt.Fprintf(&b, "  APPEND %s\n", e.Cmdline)
	if err := r.WriteFile("/boot/extlinux/extlinux.conf", []byte(b.String()), 0o644); err != nil {
		return err
	}
	dir, err := hostPath(r, "/boot/extlinux")
	if err != nil {
		return err
	}
	if err := run(ctx, "extlinux", "--install", dir); err != nil {
		return err
	}
	code, err := os.ReadFile(mbrPath)
	if err != nil {
		return err
	}
	if len(code) > 440 {
		code = code[:440]
	}
	if _, err := disk.WriteAt(code, 0); err != nil {
		return fmt.Errorf("write MBR boot code: %w", err)
	}
	return nil
}

// grubConfig is the configuration embedded in the standalone EFI GRUB.
func grubConfig(e bootEntry) string {
	var b strings.Builder
	b.WriteString("# Written by chromogenic (bootable export).\n")
	b.WriteString("insmod part_gpt\ninsmod part_msdos\ninsmod ext2\ninsmod xfs\ninsmod btrfs\ninsmod all_video\n")
	b.WriteString("serial --unit=0 --speed=115200\nterminal_input console serial\nterminal_output console serial\n")
	b.WriteString("set timeout=1\nset default=0\n")
	fmt.Fprintf(&b, "search --no-floppy --fs-uuid --set=root %s\n", e.BootFS)
	fmt.Fprintf(&b, "menuentry '%s' {\n\tlinux %s %s\n", strings.ReplaceAll(e.Title, "'", ""), e.Kernel, e.Cmdline)
	if e.Initrd != "" {
		fmt.Fprintf(&b, "\tinitrd %s\n", e.Initrd)
	}
	b.WriteString("}\n")
	return b.String()
}

// grubModules are preloaded into the standalone GRUB.
var grubModules = "part_gpt part_msdos fat ext2 xfs btrfs search search_fs_uuid normal linux gzio serial terminal all_video efi_gop configfile echo"

func grubArgs(out, cfg string) []string {
	return []string{"-O", "x86_64-efi", "-o", out, "--modules=" + grubModules,
		"--locales=", "--fonts=", "--themes=", "boot/grub/grub.cfg=" + cfg}
}

// buildGrubEFI builds BOOTX64.EFI into hostOut: with the guest's own grub-mkstandalone in
// the sandbox (or, trusted, the chroot) when the guest has GRUB's x86_64-efi modules, else
// with the host's. It returns which was used.
func buildGrubEFI(ctx context.Context, r *guestfs.Root, chrootReady, trust bool, e bootEntry, hostOut string, logf func(string, ...any)) (string, error) {
	cfg := grubConfig(e)
	if chrootReady && exists(r, "/usr/lib/grub/x86_64-efi/linux.mod") {
		if prog := findGuestProgram(r, "grub-mkstandalone", "grub2-mkstandalone"); prog != "" {
			const gcfg, gout = "/tmp/chromogenic-grub.cfg", "/tmp/chromogenic-bootx64.efi"
			if err := r.WriteFile(gcfg, []byte(cfg), 0o644); err == nil {
				out, err := sandbox.Options{TrustGuest: trust}.Output(ctx, r.Dir(), append([]string{prog}, grubArgs(gout, gcfg)...))
				_ = r.Remove(gcfg)
				if err == nil {
					img, rerr := r.ReadFileLimit(gout, 64<<20)
					_ = r.Remove(gout)
					if rerr == nil && len(img) > 0 {
						return "grub-efi (guest's " + prog + ")", os.WriteFile(hostOut, img, 0o644)
					}
					err = rerr
				}
				logf("bootable: the guest's %s failed (%v: %s); using the host's GRUB", prog, err, lastLine(string(out)))
			}
		}
	}
	if _, err := os.Stat("/usr/lib/grub/x86_64-efi/linux.mod"); err != nil {
		return "", fmt.Errorf("EFI boot needs GRUB's x86_64-efi modules: the guest has none and the host neither (apt-get install grub-efi-amd64-bin)")
	}
	tmpCfg := hostOut + ".cfg"
	if err := os.WriteFile(tmpCfg, []byte(cfg), 0o644); err != nil {
		return "", err
	}
	defer os.Remove(tmpCfg)
	if err := run(ctx, "grub-mkstandalone", grubArgs(hostOut, tmpCfg)...); err != nil {
		return "", err
	}
	return "grub-efi (host's grub-mkstandalone)", nil
}

func lastLine(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return l[len(l)-1]
}

func exists(r *guestfs.Root, p string) bool { _, err := r.Stat(p); return err == nil }

func findGuestProgram(r *guestfs.Root, names ...string) string {
	for _, n := range names {
		for _, d := range []string{"/usr/sbin/", "/usr/bin/", "/sbin/", "/bin/"} {
			if fi, err := r.Stat(d + n); err == nil && fi.Mode().IsRegular() {
				return d + n
			}
		}
	}
	return ""
}

// newVolumeID returns a random FAT volume serial and the UUID form blkid and fstab use.
func newVolumeID() (uint32, string) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	id := binary.LittleEndian.Uint32(b[:])
	return id, fmt.Sprintf("%04X-%04X", id>>16, id&0xffff)
}

// makeESP writes a FAT filesystem image of size bytes at path with serial id holding
// /EFI/BOOT/BOOTX64.EFI (mkfs.vfat + mtools: no vfat mount needed).
func makeESP(ctx context.Context, path string, size int64, id uint32, bootx64 string) error {
	os.Remove(path)
	if err := run(ctx, "mkfs.vfat", "-C", "-n", "ESP", "-i", fmt.Sprintf("%08X", id), path, strconv.FormatInt(size/1024, 10)); err != nil {
		return err
	}
	env := append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	for _, args := range [][]string{
		{"mmd", "-i", path, "::/EFI", "::/EFI/BOOT"},
		{"mcopy", "-i", path, bootx64, "::/EFI/BOOT/BOOTX64.EFI"},
	} {
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %v: %s (install mtools)", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
		}
	}
	return nil
}
