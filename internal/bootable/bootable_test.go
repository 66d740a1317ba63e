package bootable

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

// make runs Make with a log into the test and checks what every bootable disk must have:
// the requested table, a clean root filesystem, fstab root by UUID, the kernel command line
// with serial and VGA consoles, nothing left mounted or attached, the output sparse.
func makeDisk(t *testing.T, src, dst string, opts Options) *Result {
	t.Helper()
	opts.Logf = func(f string, a ...any) { t.Logf(f, a...) }
	start := time.Now()
	res, err := Make(context.Background(), src, dst, opts)
	if err != nil {
		t.Fatalf("Make: %v", err)
	}
	t.Logf("Make (%s) took %s: %+v", opts.Firmware, time.Since(start).Round(time.Millisecond), res)
	checkReleased(t, dst)
	d := readTable(t, dst)
	wantLabel := map[string]string{FirmwareBIOS: "dos", FirmwareEFI: "gpt", FirmwareBoth: "gpt"}[opts.Firmware]
	if d.PartitionTable.Label != wantLabel || res.PartitionType != wantLabel {
		t.Errorf("partition table %q (result %q), want %q", d.PartitionTable.Label, res.PartitionType, wantLabel)
	}
	root := d.PartitionTable.Partitions[len(d.PartitionTable.Partitions)-1]
	if out, err := exec.Command("e2fsck", "-fn", dst+"?offset="+strconv.FormatInt(root.Start*512, 10)).CombinedOutput(); err != nil {
		// e2fsck takes no offset syntax everywhere: check through a read-only loop instead.
		loop, lerr := exec.Command("losetup", "--show", "-f", "-r", "-o", strconv.FormatInt(root.Start*512, 10),
			"--sizelimit", strconv.FormatInt(root.Size*512, 10), dst).Output()
		if lerr != nil {
			t.Fatalf("losetup: %v", lerr)
		}
		dev := strings.TrimSpace(string(loop))
		out, err = exec.Command("e2fsck", "-fn", dev).CombinedOutput()
		exec.Command("losetup", "-d", dev).Run()
		if err != nil {
			t.Errorf("e2fsck -fn of the root: %v\n%s", err, out)
		}
	}
	files := packertest.GuestFiles(t, dst, "/etc/fstab", "/boot/extlinux/extlinux.conf", grubCfgPath)
	fstab := string(files["/etc/fstab"])
	if !regexp.MustCompile(`(?m)^UUID=` + res.RootUUID + `\s+/\s`).MatchString(fstab) {
		t.Errorf("fstab does not mount / by UUID=%s:\n%s", res.RootUUID, fstab)
	}
	if !strings.Contains(res.Cmdline, "root=UUID="+res.RootUUID) || !strings.Contains(res.Cmdline, "console=tty0 console=ttyS0,115200") {
		t.Errorf("kernel command line %q", res.Cmdline)
	}
	bios, extlinux := opts.Firmware != FirmwareEFI, opts.Bootloader == BootloaderExtlinux
	if conf := string(files["/boot/extlinux/extlinux.conf"]); (bios && extlinux) != strings.Contains(conf, res.Cmdline) {
		t.Errorf("extlinux.conf for firmware %s, bootloader %q:\n%s", opts.Firmware, opts.Bootloader, conf)
	}
	if conf := string(files[grubCfgPath]); (bios && !extlinux) != (strings.Contains(conf, res.Cmdline) && strings.Contains(conf, "--fs-uuid --set=root "+res.RootUUID)) {
		t.Errorf("%s for firmware %s, bootloader %q:\n%s", grubCfgPath, opts.Firmware, opts.Bootloader, conf)
	}
	alloc, size := packertest.AllocatedBytes(t, dst), res.Size
	if alloc >= size*3/4 {
		t.Errorf("output not sparse: %d of %d bytes allocated", alloc, size)
	}
	return res
}

func checkReleased(t *testing.T, image string) {
	t.Helper()
	out, _ := exec.Command("losetup", "-j", image).Output()
	if strings.TrimSpace(string(out)) != "" {
		t.Errorf("loop devices left on %s:\n%s", image, out)
	}
	mounts, _ := os.ReadFile("/proc/self/mounts")
	for _, l := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(l); len(f) > 1 && strings.HasPrefix(f[1], filepath.Dir(image)+"/") {
			t.Errorf("mount left behind: %s", l)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(image), ".chromogenic-bootable-*")); len(left) > 0 {
		t.Errorf("scratch directory left behind: %v", left)
	}
}

// TestEucalyptusBIOSBoot: a bare ext4 filesystem with its kernel and ramdisk outside (the
// Eucalyptus shape) becomes an MBR disk with GRUB (the default) whose root is grown, and boots with
// SeaBIOS to the sample's marker on the serial console (one TCG boot).
func TestEucalyptusBIOSBoot(t *testing.T) {
	testtier.Acceptance(t, "a qemu boot")
	dir := t.TempDir()
	img, kernel, ramdisk := testimages.Eucalyptus(t, dir)
	dst := filepath.Join(dir, "bootable-bios.raw")
	res := makeDisk(t, img, dst, Options{Firmware: FirmwareBIOS, Kernel: kernel, Ramdisk: ramdisk, ExtraSize: 256 << 20})
	if len(res.Bootloaders) != 1 || res.Bootloaders[0] != "grub-pc (host's grub-mkimage)" {
		t.Errorf("bootloaders %v, want GRUB for BIOS (the default where the host has grub-pc-bin)", res.Bootloaders)
	}
	fi, _ := os.Stat(img)
	if res.Size != roundMiB(fi.Size()+256<<20)+2*mib {
		t.Errorf("disk size %d for a %d-byte filesystem grown by 256 MiB", res.Size, fi.Size())
	}
	if res.RamdiskAsIs || res.Initramfs != "/boot/initrd.img-"+res.KernelVersion || res.Kernel != "/boot/vmlinuz-"+res.KernelVersion {
		t.Errorf("kernel %s, initramfs %s, as is %v", res.Kernel, res.Initramfs, res.RamdiskAsIs)
	}
	// The rebuilt initramfs differs from the cloud's (it got the generic PC drivers); the
	// cloud's is kept next to it.
	files := packertest.GuestFiles(t, dst, res.Initramfs+".pre-chromogenic", "/etc/initramfs-tools/modules")
	if orig, _ := os.ReadFile(ramdisk); string(files[res.Initramfs+".pre-chromogenic"]) != string(orig) {
		t.Errorf("the external ramdisk was not kept as %s.pre-chromogenic", res.Initramfs)
	}
	for _, m := range []string{"ahci", "virtio_blk", "virtio_scsi", "e1000", "sd_mod", "ext4"} {
		if !regexp.MustCompile(`(?m)^` + m + `$`).Match(files["/etc/initramfs-tools/modules"]) {
			t.Errorf("%s not listed for the initramfs:\n%s", m, files["/etc/initramfs-tools/modules"])
		}
	}
	// The root filesystem fills its grown partition.
	d := readTable(t, dst)
	if p := d.PartitionTable.Partitions[0]; p.Size*512 != roundMiB(fi.Size()+256<<20) || !p.Bootable {
		t.Errorf("root partition %+v", p)
	}
	testimages.Boot(t, dst, "raw", 6*time.Minute)
}

// TestNoKernel: an image with no kernel inside and none given fails, naming what is missing,
// and leaves no output, loop or mount behind.
func TestNoKernel(t *testing.T) {
	dir := t.TempDir()
	img, _, _ := testimages.Eucalyptus(t, dir)
	dst := filepath.Join(dir, "nokernel.raw")
	_, err := Make(context.Background(), img, dst, Options{Firmware: FirmwareBIOS})
	if !errors.Is(err, ErrNoKernel) {
		t.Fatalf("Make without a kernel: %v, want ErrNoKernel", err)
	}
	for _, s := range []string{"no kernel in /boot", "no external kernel was given", "kernel"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	if _, serr := os.Stat(dst); !os.IsNotExist(serr) {
		t.Errorf("output left behind after the failure: %v", serr)
	}
	checkReleased(t, dst)
	checkReleased(t, img)
	// A file that is not a kernel is refused before any work.
	if _, err := Make(context.Background(), img, dst, Options{Kernel: img}); err == nil || !strings.Contains(err.Error(), "bzImage") {
		t.Errorf("Make with a filesystem as kernel: %v", err)
	}
}

// TestBothFirmwaresBoot (CHROMOGENIC_BOOT_ALL=1 only: two more TCG boots) boots one hybrid
// disk (GPT: a BIOS boot partition with GRUB's core.img, an ESP with the EFI GRUB, a
// legacy-bootable root) with SeaBIOS and with OVMF.
func TestBothFirmwaresBoot(t *testing.T) {
	testtier.Acceptance(t, "a qemu boot")
	if os.Getenv("CHROMOGENIC_BOOT_ALL") == "" {
		t.Skip("two more TCG boots: set CHROMOGENIC_BOOT_ALL=1")
	}
	dir := t.TempDir()
	img, kernel, ramdisk := testimages.Eucalyptus(t, dir)
	dst := filepath.Join(dir, "bootable-both.raw")
	res := makeDisk(t, img, dst, Options{Firmware: FirmwareBoth, Kernel: kernel, Ramdisk: ramdisk})
	if len(res.Bootloaders) != 2 || !strings.HasPrefix(res.Bootloaders[0], "grub-pc") || !strings.HasPrefix(res.Bootloaders[1], "grub-efi") {
		t.Errorf("bootloaders %v, want GRUB for BIOS and for EFI", res.Bootloaders)
	}
	if p := readTable(t, dst).PartitionTable.Partitions[0]; p.Type != gptBIOSBoot || p.Start != 2048 {
		t.Errorf("first partition %+v, want the BIOS boot partition", p)
	}
	testimages.BootWith(t, dst, "raw", 8*time.Minute, testimages.BootOptions{Firmware: "efi", Disk: "sata"})
	testimages.BootWith(t, dst, "raw", 6*time.Minute, testimages.BootOptions{Firmware: "bios", Disk: "ide"})
}

// TestMakeInterrupted cancels Make (as a build interrupted with Ctrl-C does) while it copies
// the root into its partition, and while the guest's initramfs tool runs in the sandbox (with
// the guest root mounted, a loop on the output): each time Make returns the cancellation and
// leaves no output, no loop device on the output or the source, no mount and no scratch
// directory; the source is unchanged.
func TestMakeInterrupted(t *testing.T) {
	testtier.Acceptance(t, "three interrupted bootable disks with guest tools")
	dir := t.TempDir()
	img, kernel, ramdisk := testimages.Eucalyptus(t, dir)
	before := packertest.FileSHA256(t, img)
	for _, at := range []string{"copying ", "rebuilding the initramfs"} {
		t.Run(strings.Fields(at)[0], func(t *testing.T) {
			dst := filepath.Join(dir, "interrupted.raw")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			seen := false
			_, err := Make(ctx, img, dst, Options{Firmware: FirmwareBIOS, Kernel: kernel, Ramdisk: ramdisk,
				Logf: func(f string, a ...any) {
					line := fmt.Sprintf(f, a...)
					t.Log(line)
					if strings.Contains(line, at) && !seen {
						seen = true
						// Let the step get going (the guest tool started, data moving) first.
						go func() { time.Sleep(300 * time.Millisecond); cancel() }()
					}
				}})
			if !seen {
				t.Fatalf("Make never said %q (err %v)", at, err)
			}
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Make interrupted at %q: %v, want the cancellation", at, err)
			}
			if _, serr := os.Stat(dst); !os.IsNotExist(serr) {
				t.Errorf("output left behind: %v", serr)
			}
			checkReleased(t, dst)
			checkReleased(t, img)
		})
	}
	if packertest.FileSHA256(t, img) != before {
		t.Error("the source changed")
	}
}
