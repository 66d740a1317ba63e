//go:build linux

package bootable

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/hostfile"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/retarget"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/sandbox"
)

// Options configure Make.
type Options struct {
	// SourceFormat is the format of src ("raw" for a builder's working copy, whose first
	// sector is the guest's and must not be probed); empty: detected from the content.
	SourceFormat string
	// Firmware is FirmwareBIOS (MBR, Bootloader; the default), FirmwareEFI (GPT, ESP with
	// GRUB) or FirmwareBoth (GPT with an ESP and a legacy-BIOS-bootable root).
	Firmware string
	// Kernel and Ramdisk are host paths of an external kernel (bzImage) and ramdisk to fold
	// into the guest's /boot (Eucalyptus eki/eri, OpenStack kernel_id/ramdisk_id). Empty:
	// boot the guest's own newest kernel.
	Kernel, Ramdisk string
	// Bootloader boots the disk with a PC BIOS (firmware bios and both): BootloaderGRUB,
	// BootloaderExtlinux, or "" for GRUB where its i386-pc modules are on the host or in the
	// guest, else extlinux.
	Bootloader string
	// ExtraSize grows the root partition and filesystem by this many bytes.
	ExtraSize int64
	// WorkDir holds scratch files and mount points (and a raw copy of a non-raw input);
	// default: the output's directory.
	WorkDir string
	// LVM is what becomes of a guest's LVM logical volumes: LVMFlatten (the default: each
	// LV the guest mounts becomes a plain partition) or LVMKeep (the physical volumes copied
	// whole; see lvm.go).
	LVM string
	// OtherDisks are the guest's other disks, in its order (the boot disk src first), in
	// SourceFormat. They are not copied: they are read (their partitions and filesystems) so
	// that fstab entries on them name their filesystems by UUID (see rewriteFstab); when they
	// cannot be read, Make says so and leaves those entries as they are.
	OtherDisks []string
	// TrustGuest runs the guest's initramfs and GRUB tools with plain chroot (the host's
	// /proc, /sys and /dev mounted in the guest) instead of the sandbox: `sandbox = false`.
	TrustGuest bool
	// RootPartition (a partition number of src), RootVolume ("vg/lv") and RootSubvolume (a
	// btrfs subvolume path from the top level, "/" for the top level) choose the guest's
	// root, as the builders' root_partition, root_volume and root_subvolume do (ValidateRoot,
	// ValidateRootPartition); 0 and "": found by chroot.FindRoot's rule.
	RootPartition             int
	RootVolume, RootSubvolume string
	// Logf receives progress lines.
	Logf func(format string, args ...any)
}

// Result describes the disk Make wrote.
type Result struct {
	Firmware      string
	PartitionType string // "dos" or "gpt"
	Bootloaders   []string
	KernelVersion string
	Kernel        string // guest path of the kernel booted
	Initramfs     string // guest path of its initramfs ("" for none)
	// RamdiskAsIs is true when the external ramdisk is used unchanged (the guest has no
	// modules for the external kernel).
	RamdiskAsIs bool
	Cmdline     string
	RootUUID    string
	// RootVolume is the LVM logical volume ("vg/lv") the root came from, "" for none;
	// RootSubvolume the btrfs subvolume path of the root, "" for the top level or another
	// filesystem.
	RootVolume, RootSubvolume string
	Size                      int64
}

// copyable filesystems of the source are copied into the new disk; others (an old ESP, a
// BIOS boot partition, unknown data) are left out.
var copyable = map[string]bool{"ext2": true, "ext3": true, "ext4": true, "xfs": true, "btrfs": true, "swap": true}

var consoleArgs = "console=tty0 console=ttyS0,115200"

// Make writes a stand-alone bootable raw disk to dst (replaced; removed again on failure)
// from the image src. It must run as root (loop devices, mounts, chroot).
func Make(ctx context.Context, src, dst string, opts Options) (res *Result, err error) {
	if opts.Firmware == "" {
		opts.Firmware = FirmwareBIOS
	}
	if !ValidFirmware(opts.Firmware) {
		return nil, fmt.Errorf("bootable: firmware %q: want bios, efi or both", opts.Firmware)
	}
	if opts.ExtraSize < 0 {
		return nil, fmt.Errorf("bootable: extra size must not be negative")
	}
	if !ValidBootloader(opts.Bootloader) {
		return nil, fmt.Errorf("bootable: bootloader %q: want grub or extlinux", opts.Bootloader)
	}
	if !ValidLVM(opts.LVM) {
		return nil, fmt.Errorf("bootable: lvm %q: want flatten or keep", opts.LVM)
	}
	if err := ValidateRoot("root_volume", opts.RootVolume, "root_subvolume", opts.RootSubvolume); err != nil {
		return nil, fmt.Errorf("bootable: %w", err)
	}
	if err := ValidateRootPartition("root_partition", opts.RootPartition, "root_volume", opts.RootVolume); err != nil {
		return nil, fmt.Errorf("bootable: %w", err)
	}
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	kver := ""
	if opts.Kernel != "" {
		if kver, err = KernelVersion(opts.Kernel); err != nil {
			return nil, fmt.Errorf("bootable: %w", err)
		}
	}
	if opts.Ramdisk != "" {
		if _, err := os.Stat(opts.Ramdisk); err != nil {
			return nil, fmt.Errorf("bootable: ramdisk: %w", err)
		}
	}
	workDir := opts.WorkDir
	if workDir == "" {
		workDir = filepath.Dir(dst)
	}
	work, err := os.MkdirTemp(workDir, ".chromogenic-bootable-")
	if err != nil {
		return nil, fmt.Errorf("bootable: %w", err)
	}
	defer removeWork(work)

	// The source as a raw file: loop devices need one.
	raw := src
	img, err := diskimage.OpenFormat(src, opts.SourceFormat)
	if err != nil {
		return nil, fmt.Errorf("bootable: open %s: %w", src, err)
	}
	if img.Format() != "raw" {
		raw = filepath.Join(work, "input.raw")
		logf("bootable: %s is %s: making a raw copy", src, img.Format())
		err = diskimage.Convert(ctx, img, raw, "raw", diskimage.WriteOptions{})
	}
	img.Close()
	if err != nil {
		return nil, fmt.Errorf("bootable: raw copy of %s: %w", src, err)
	}

	// Which filesystems to copy.
	si, err := chroot.OpenImage(raw, chroot.ImageOptions{ReadOnly: true, LayoutOnly: true, MountPath: filepath.Join(work, "probe"),
		Guest: opts.rootChoice()})
	if err != nil {
		return nil, fmt.Errorf("bootable: read the layout of %s: %w", src, err)
	}
	if err := si.Close(); err != nil {
		return nil, fmt.Errorf("bootable: %w", err)
	}
	sd, root := si.Disk, si.Root
	all, err := otherDisksView(ctx, raw, work, opts, logf)
	if err != nil {
		// The boot disk is still made bootable: what is lost is the UUIDs of the other
		// disks' fstab entries, which stay as the guest wrote them.
		logf("bootable: the guest's other disks could not be read (%v): fstab entries on them are left as they are", err)
		all = nil
	}
	var parts []*chroot.Partition
	var fss []srcFS
	for _, p := range sd.Partitions {
		if p == root || copyable[p.FSType] {
			parts = append(parts, p)
			fss = append(fss, srcFS{Size: p.Size, FSType: p.FSType, Root: p == root})
		} else if p.FSType != lvmMember {
			logf("bootable: %s left out (not a Linux filesystem)", p)
		}
	}
	lvParts, lvFSs, err := planLVM(raw, work, sd, all, root, len(parts), opts, logf)
	if err != nil {
		return nil, fmt.Errorf("bootable: %w", err)
	}
	parts, fss = append(parts, lvParts...), append(fss, lvFSs...)
	l, err := planLayout(opts.Firmware, fss, opts.ExtraSize)
	if err != nil {
		return nil, fmt.Errorf("bootable: %w", err)
	}
	if opts.Firmware == FirmwareBoth && opts.Bootloader != BootloaderExtlinux {
		l.addBIOSBoot() // room for GRUB's core.img on GPT
	}
	res = &Result{Firmware: opts.Firmware, PartitionType: l.Label, Size: l.Size, RootUUID: root.UUID, RootVolume: root.LV}

	// The new disk: table, then the filesystems copied.
	f, err := hostfile.Create(dst, hostfile.DefaultFileMode)
	if err != nil {
		return nil, fmt.Errorf("bootable: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			os.Remove(dst)
			res = nil
		}
	}()
	if err := f.Truncate(l.Size); err != nil {
		return nil, fmt.Errorf("bootable: %w", err)
	}
	if err := l.writeTable(dst); err != nil {
		return nil, fmt.Errorf("bootable: %w", err)
	}
	for i, s := range l.Slots {
		if s.Source < 0 {
			continue
		}
		p := parts[s.Source]
		logf("bootable: copying %s into partition %d (%d MiB)", p, i+1, s.Size>>20)
		if err := copyRange(ctx, f, s.Start, raw, p.Start, p.Size); err != nil {
			return nil, fmt.Errorf("bootable: copy %s: %w", p, err)
		}
	}
	for i := range l.Slots {
		s := &l.Slots[i]
		if strings.HasPrefix(s.FSType, "ext") {
			grow := s.Role == roleRoot && s.Size > s.FSSize
			if err := prepareExt(ctx, dst, s, grow, opts.Firmware != FirmwareEFI, logf); err != nil {
				return nil, fmt.Errorf("bootable: %w", err)
			}
		}
	}

	// Mount the new disk and make it bootable.
	ni, err := chroot.OpenImage(dst, chroot.ImageOptions{MountPath: filepath.Join(work, "root"), Guest: l.newRoot(root, opts)})
	if err != nil {
		return nil, fmt.Errorf("bootable: open the new disk: %w", err)
	}
	defer func() {
		if cerr := ni.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("bootable: %w", cerr)
		}
	}()
	nd, g := ni.Disk, ni.Guest
	if err := l.growMounted(ctx, g.Root.FSType, g.Mounts.Root, logf); err != nil {
		return nil, fmt.Errorf("bootable: %w", err)
	}
	if err := finishGuest(ctx, g, nd, sd, all, parts, l, f, kver, opts, res, work, logf); err != nil {
		return nil, fmt.Errorf("bootable: %w", err)
	}
	return res, nil
}

// otherDisksView reads the layout of the boot disk raw with opts.OtherDisks (each made raw in
// work first when it is not), for rewriteFstab; nil without other disks (Make goes on
// without it when it fails). Nothing stays
// attached: the partitions' UUIDs, labels and numbers are what is kept.
func otherDisksView(ctx context.Context, raw, work string, opts Options, logf func(string, ...any)) (*chroot.Disk, error) {
	if len(opts.OtherDisks) == 0 {
		return nil, nil
	}
	paths := []string{raw}
	for i, o := range opts.OtherDisks {
		img, err := diskimage.OpenFormat(o, opts.SourceFormat)
		if err != nil {
			return nil, fmt.Errorf("open disk %d, %s: %w", i+2, o, err)
		}
		p := o
		if img.Format() != "raw" {
			p = filepath.Join(work, fmt.Sprintf("input-disk%d.raw", i+2))
			logf("bootable: disk %d, %s, is %s: making a raw copy", i+2, o, img.Format())
			err = diskimage.Convert(ctx, img, p, "raw", diskimage.WriteOptions{})
		}
		img.Close()
		if err != nil {
			return nil, fmt.Errorf("raw copy of disk %d, %s: %w", i+2, o, err)
		}
		paths = append(paths, p)
	}
	vi, err := chroot.OpenImages(paths, chroot.ImageOptions{ReadOnly: true, LayoutOnly: true, MountPath: filepath.Join(work, "probe-all")})
	if err != nil {
		return nil, fmt.Errorf("read the layout of the guest's %d disks: %w", len(paths), err)
	}
	if err := vi.Close(); err != nil {
		return nil, err
	}
	return vi.Disk, nil
}

// finishGuest does the work inside the mounted new disk: fstab, kernel, initramfs,
// bootloaders.
func finishGuest(ctx context.Context, g *chroot.Guest, nd, sd, all *chroot.Disk, parts []*chroot.Partition, l *layout,
	disk *os.File, kver string, opts Options, res *Result, work string, logf func(string, ...any)) error {
	r := g.Guest()
	rootUUID := res.RootUUID
	// A root chosen by the user (root_volume, root_subvolume) was not checked by the rule.
	if fi, err := r.Stat("/etc"); err != nil || !fi.IsDir() {
		what := g.Root.String()
		if res.RootVolume != "" {
			what = "logical volume " + res.RootVolume
		}
		return fmt.Errorf("the root filesystem (%s) does not hold a Linux system: it has no /etc", what)
	}

	// fstab: everything by UUID (the copies keep their filesystems' UUIDs).
	espID, espUUID := uint32(0), ""
	if l.slot(roleESP) != nil {
		espID, espUUID = newVolumeID()
	}
	uuids := map[*chroot.Partition]string{}
	for _, p := range parts {
		uuids[p] = p.UUID
	}
	fstab, rerr := r.ReadFileLimit("/etc/fstab", chroot.MaxFstabSize)
	if rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		return fmt.Errorf("bootable: guest fstab: %w", rerr)
	}
	if rerr != nil {
		fstab = []byte(fmt.Sprintf("UUID=%s\t/\t%s\tdefaults\t0\t1\n", rootUUID, g.Root.FSType))
		if err := r.WriteFile("/etc/fstab", fstab, 0o644); err != nil {
			return err
		}
		logf("bootable: the guest had no /etc/fstab: wrote one for the root")
	} else if text, changed := rewriteFstab(string(fstab), sd, all, uuids, rootUUID, espUUID); changed {
		if err := r.WriteFile("/etc/fstab", []byte(text), 0o644); err != nil {
			return err
		}
		fstab = []byte(text)
		logf("bootable: /etc/fstab now names the filesystems by UUID")
	}

	// A separate /boot.
	bootPrefix, bootFS := "/boot", rootUUID
	if e, ok := chroot.FindFstab(chroot.ParseFstab(string(fstab)), "/boot"); ok {
		p, err := nd.ResolveSpec(e.Spec)
		if err != nil || p == nil {
			return fmt.Errorf("the guest's fstab mounts /boot from %s, which is not on the new disk", e.Spec)
		}
		if p != g.Root {
			if err := markBootPartition(disk.Name(), l, p); err != nil {
				return err
			}
			if err := g.Mount(p.Device, "/boot", p.FSType, []string{"nosuid", "nodev"}); err != nil {
				return err
			}
			bootPrefix, bootFS = "", p.UUID
		}
	}
	// A btrfs root subvolume: its rootflags, and, with the kernel in its own /boot, the
	// subvolume's path, which GRUB's paths start with and extlinux cannot follow.
	rootflags, subvolDir, err := btrfsRoot(g.Root, bootPrefix == "/boot")
	if err != nil {
		return err
	}
	if subvolDir != "" {
		res.RootSubvolume = subvolDir[1:]
		if l.Firmware != FirmwareEFI && opts.Bootloader == BootloaderExtlinux {
			return extlinuxSubvolumeError(subvolDir)
		}
	} else if g.Root.Btrfs != nil {
		res.RootSubvolume = g.Root.Btrfs.RootPath()
	}
	if err := mountSeparateDirs(g, nd, fstab); err != nil {
		return err
	}
	// The sandbox gives guest tools their own /proc and /dev; plain chroot needs the host's.
	var chrootErr error
	if opts.TrustGuest {
		if chrootErr = g.MountChroot(chroot.DefaultChrootMounts); chrootErr != nil {
			logf("bootable: chroot mounts failed (%v): guest tools cannot run", chrootErr)
		}
	} else if chrootErr = sandbox.Check(); chrootErr != nil {
		logf("bootable: %v: guest tools cannot run", chrootErr)
	}

	info, err := guestfs.Inspect(r)
	if err != nil {
		return fmt.Errorf("inspect the guest: %w", err)
	}
	if !info.Linux {
		return fmt.Errorf("the root filesystem does not hold a Linux system")
	}

	// The kernel: the external one folded in, or the guest's newest.
	switch {
	case opts.Kernel != "":
		res.KernelVersion = kver
		if err := r.MkdirAll("/boot", 0o755); err != nil {
			return err
		}
		if err := copyIn(r, opts.Kernel, "/boot/vmlinuz-"+kver, 0o644); err != nil {
			return err
		}
		if opts.Ramdisk != "" {
			if err := copyIn(r, opts.Ramdisk, "/boot/"+initrdName(info.InitramfsTool, kver), 0o644); err != nil {
				return err
			}
		}
		logf("bootable: external kernel %s (version %s) copied to /boot", opts.Kernel, kver)
		if !hasModules(r, kver) {
			if opts.Ramdisk == "" {
				have := guestModuleDirs(r)
				return fmt.Errorf("%w: the external kernel %s is version %s, but the guest has no /lib/modules/%s "+
					"(it has modules for: %s) and no ramdisk was given: give the ramdisk the cloud booted it with, "+
					"or a kernel matching the guest's modules", ErrNoKernel, opts.Kernel, kver, kver, listOrNone(have))
			}
			res.RamdiskAsIs = true
			logf("bootable: the guest has no /lib/modules/%s: the external ramdisk is used as it is (no drivers can be added)", kver)
		}
	default:
		for _, k := range info.Kernels {
			if !k.Xen && (k.Modules || k.Initramfs != "") {
				res.KernelVersion = k.Version
				break
			}
		}
		if res.KernelVersion == "" {
			if len(info.Kernels) == 0 {
				return fmt.Errorf("%w: the image has no kernel in /boot (no vmlinuz-*) and no external kernel was given "+
					"(kernel, or the artifact's %s): Eucalyptus and OpenStack images booted with kernel_id/ramdisk_id need that kernel", ErrNoKernel, StateKernelPath)
			}
			return fmt.Errorf("%w: the guest's kernels (%s) are Xen-only or have neither modules nor an initramfs; give an external kernel",
				ErrNoKernel, kernelList(info.Kernels))
		}
	}

	// The initramfs, rebuilt by the guest's own tool with a generic PC's drivers.
	if !res.RamdiskAsIs && hasModules(r, res.KernelVersion) {
		switch {
		case info.InitramfsTool == "":
			logf("bootable: the guest has no initramfs tool: its initramfs is used as it is")
		case chrootErr != nil:
			return fmt.Errorf("cannot run the guest's %s: %v", info.InitramfsTool, chrootErr)
		default:
			logf("bootable: rebuilding the initramfs with the guest's %s (drivers for a generic PC)", info.InitramfsTool)
			rep, err := retarget.Run(ctx, r, retarget.Options{Target: retarget.PC, TrustGuest: opts.TrustGuest, Logf: logf})
			if err != nil {
				return fmt.Errorf("initramfs rebuild: %w", err)
			}
			_ = rep
		}
	}
	info, err = guestfs.Inspect(r)
	if err != nil {
		return fmt.Errorf("inspect the guest: %w", err)
	}
	var kern *guestfs.Kernel
	for i := range info.Kernels {
		if info.Kernels[i].Version == res.KernelVersion {
			kern = &info.Kernels[i]
		}
	}
	if kern == nil {
		return fmt.Errorf("%w: kernel %s vanished from /boot", ErrNoKernel, res.KernelVersion)
	}
	if kern.Initramfs == "" {
		if !hasModules(r, kern.Version) {
			return fmt.Errorf("%w: kernel %s has neither an initramfs nor modules in the guest", ErrNoKernel, kern.Version)
		}
		logf("bootable: kernel %s has no initramfs: booting without one (the root's drivers must be built in)", kern.Version)
	}
	res.Kernel, res.Initramfs = kern.Image, kern.Initramfs
	// Paths on the filesystem holding /boot, as the boot loader reads it: below a separate
	// /boot, or the root's, from the btrfs top level when the root is a subvolume.
	rel := func(p string) string {
		switch {
		case p == "":
			return p
		case subvolDir != "":
			return subvolDir + p
		case bootPrefix == "/boot":
			return p
		}
		return strings.TrimPrefix(p, "/boot")
	}
	title := info.PrettyName
	if title == "" {
		title = "Linux " + kern.Version
	}
	res.Cmdline = "root=UUID=" + rootUUID + " ro " + consoleArgs
	if lv := lvmRootArgs(g.Root, info.InitramfsTool); lv != "" {
		res.Cmdline = lv + " ro " + consoleArgs
	}
	res.Cmdline += rootflags
	entry := bootEntry{Title: title, Kernel: rel(kern.Image), Initrd: rel(kern.Initramfs), Cmdline: res.Cmdline, BootFS: bootFS,
		SubvolDir: subvolDir}

	if l.Firmware != FirmwareEFI {
		which, err := installBIOSBoot(ctx, r, disk, l, entry, subvolDir+bootPrefix, opts, chrootErr == nil, work, logf)
		if err != nil {
			return err
		}
		res.Bootloaders = append(res.Bootloaders, which)
	}
	if esp := l.slot(roleESP); esp != nil {
		efi := filepath.Join(work, "BOOTX64.EFI")
		which, err := buildGrubEFI(ctx, r, chrootErr == nil, opts.TrustGuest, entry, efi, logf)
		if err != nil {
			return err
		}
		logf("bootable: EFI system partition with %s", which)
		espImg := filepath.Join(work, "esp.img")
		if err := makeESP(ctx, espImg, esp.Size, espID, efi); err != nil {
			return err
		}
		if err := copyRange(ctx, disk, esp.Start, espImg, 0, esp.Size); err != nil {
			return fmt.Errorf("write the ESP: %w", err)
		}
		res.Bootloaders = append(res.Bootloaders, which)
	}
	return disk.Sync()
}

// rootChoice is the root the user chose on the source disk.
func (o Options) rootChoice() chroot.GuestOptions {
	return chroot.GuestOptions{RootPartition: o.RootPartition, RootVolume: o.RootVolume, RootSubvolume: o.RootSubvolume}
}

// newRoot names the root on the new disk: the copy of the source's root, not whatever the
// root rule would find there (the source may hold several roots): a kept logical volume by
// its name, else the root's partition; on btrfs the subvolume the user chose.
func (l *layout) newRoot(root *chroot.Partition, opts Options) chroot.GuestOptions {
	g := chroot.GuestOptions{RootSubvolume: opts.RootSubvolume}
	if root.LV != "" && opts.LVM == LVMKeep {
		g.RootVolume = root.LV
		return g
	}
	for i, s := range l.Slots {
		if s.Role == roleRoot {
			g.RootPartition = i + 1
		}
	}
	return g
}

// removeWork removes the scratch directory: the files Make put there, then the (empty)
// directories. No recursive removal: should anything still be mounted below (an unmount
// failed), rmdir fails instead of deleting through the mount into a guest or a host /dev.
func removeWork(work string) {
	for _, f := range []string{"input.raw", "BOOTX64.EFI", "BOOTX64.EFI.cfg", "esp.img"} {
		os.Remove(filepath.Join(work, f))
	}
	for _, d := range []string{"probe", "root"} {
		os.Remove(filepath.Join(work, d))
	}
	os.Remove(work)
}

func listOrNone(v []string) string {
	if len(v) == 0 {
		return "none"
	}
	return strings.Join(v, ", ")
}

func kernelList(ks []guestfs.Kernel) string {
	var v []string
	for _, k := range ks {
		v = append(v, k.Version)
	}
	return strings.Join(v, ", ")
}

// prepareExt readies an ext filesystem of the new disk before it is mounted: grown to fill
// its partition, and without metadata_csum_seed when extlinux must read it (syslinux 6.04
// does not know that feature).
func prepareExt(ctx context.Context, dst string, s *slot, grow, forExtlinux bool, logf func(string, ...any)) (err error) {
	loop, err := chroot.AttachLoop(dst, s.Start, s.Size, false)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, loop.Detach()) }()
	if forExtlinux {
		out, err := exec.CommandContext(ctx, "tune2fs", "-l", loop.Path).Output()
		if err != nil {
			return fmt.Errorf("tune2fs -l: %w", err)
		}
		if strings.Contains(string(out), "metadata_csum_seed") {
			logf("bootable: dropping metadata_csum_seed (extlinux cannot read it)")
			if err := run(ctx, "tune2fs", "-O", "^metadata_csum_seed", loop.Path); err != nil {
				return err
			}
		}
	}
	if !grow {
		return nil
	}
	logf("bootable: growing the root filesystem to %d MiB", s.Size>>20)
	if err := exec.CommandContext(ctx, "e2fsck", "-f", "-p", loop.Path).Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() >= 4 {
			return fmt.Errorf("e2fsck -f -p before growing: %v", err)
		}
	}
	return run(ctx, "resize2fs", loop.Path)
}

// growMounted grows a mounted xfs or btrfs root to fill its partition.
func (l *layout) growMounted(ctx context.Context, fstype, dir string, logf func(string, ...any)) error {
	s := l.slot(roleRoot)
	if s.Size <= s.FSSize {
		return nil
	}
	switch fstype {
	case "xfs":
		logf("bootable: growing the xfs root")
		return run(ctx, "xfs_growfs", dir)
	case "btrfs":
		logf("bootable: growing the btrfs root")
		return run(ctx, "btrfs", "filesystem", "resize", "max", dir)
	}
	return nil
}
