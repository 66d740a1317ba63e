package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/bootable"
)

// bootableFlags are convert's --bootable options: chromogenic-convert's `bootable` block
// (firmware, bootloader, kernel, ramdisk, extra_size, lvm, root_partition, root_volume,
// root_subvolume) and
// its `sandbox` option, as flags.
type bootableFlags struct {
	on                bool
	firmware          string
	bootloader        string
	kernel, ramdisk   string
	extraSize         string
	lvm               string
	rootPartition     int
	rootVolume        string
	rootSubvolume     string
	sandbox           bool
	extra             int64
	otherBootableFlag string // a bootable flag given without --bootable
}

func (b *bootableFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&b.on, "bootable", false, "")
	fs.StringVar(&b.firmware, "firmware", "", "")
	fs.StringVar(&b.bootloader, "bootloader", "", "")
	fs.StringVar(&b.kernel, "kernel", "", "")
	fs.StringVar(&b.ramdisk, "ramdisk", "", "")
	fs.StringVar(&b.extraSize, "extra-size", "", "")
	fs.StringVar(&b.lvm, "lvm", "", "")
	fs.IntVar(&b.rootPartition, "root-partition", 0, "")
	fs.StringVar(&b.rootVolume, "root-volume", "", "")
	fs.StringVar(&b.rootSubvolume, "root-subvolume", "", "")
	fs.BoolVar(&b.sandbox, "sandbox", true, "")
}

// check validates the options as chromogenic-convert's Prepare does, before any work; fs
// is parsed.
func (b *bootableFlags) check(fs *flag.FlagSet) error {
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "firmware", "bootloader", "kernel", "ramdisk", "extra-size", "sandbox", "lvm", "root-partition", "root-volume", "root-subvolume":
			if b.otherBootableFlag == "" {
				b.otherBootableFlag = f.Name
			}
		}
	})
	if !b.on {
		if b.otherBootableFlag != "" {
			return usageError{fmt.Errorf("--%s is an option of --bootable", b.otherBootableFlag)}
		}
		return nil
	}
	b.firmware = strings.ToLower(strings.TrimSpace(b.firmware))
	switch b.firmware {
	case "":
		b.firmware = bootable.FirmwareBIOS
	case "uefi":
		b.firmware = bootable.FirmwareEFI
	}
	if !bootable.ValidFirmware(b.firmware) {
		return usageError{fmt.Errorf("--firmware %q: want bios, efi (uefi) or both", b.firmware)}
	}
	if b.bootloader = strings.ToLower(strings.TrimSpace(b.bootloader)); !bootable.ValidBootloader(b.bootloader) {
		return usageError{fmt.Errorf("--bootloader %q: want grub or extlinux", b.bootloader)}
	}
	for name, path := range map[string]string{"--kernel": b.kernel, "--ramdisk": b.ramdisk} {
		if path == "" {
			continue
		}
		if fi, err := os.Stat(path); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		} else if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s: %s is not a regular file", name, path)
		}
	}
	if b.kernel != "" {
		if _, err := bootable.KernelVersion(b.kernel); err != nil {
			return fmt.Errorf("--kernel: %w", err)
		}
	}
	if b.ramdisk != "" && b.kernel == "" {
		return usageError{errors.New("--ramdisk needs --kernel: a ramdisk alone cannot be matched to a kernel")}
	}
	if b.lvm = strings.ToLower(strings.TrimSpace(b.lvm)); !bootable.ValidLVM(b.lvm) {
		return usageError{fmt.Errorf("--lvm %q: want flatten or keep", b.lvm)}
	}
	if err := bootable.ValidateRoot("--root-volume", b.rootVolume, "--root-subvolume", b.rootSubvolume); err != nil {
		return usageError{err}
	}
	if err := bootable.ValidateRootPartition("--root-partition", b.rootPartition, "--root-volume", b.rootVolume); err != nil {
		return usageError{err}
	}
	if b.extraSize != "" {
		n, err := bootable.ParseSize(b.extraSize)
		if err != nil {
			return usageError{fmt.Errorf("--extra-size: %w", err)}
		}
		b.extra = n
	}
	return nil
}

// ovaFirmware is the OVA firmware that starts the bootable disk: EFI only for an EFI-only
// disk (chromogenic-convert's rule).
func (b *bootableFlags) ovaFirmware() string {
	if b.firmware == bootable.FirmwareEFI {
		return "efi"
	}
	return "bios"
}

// make writes the stand-alone bootable disk of in (format inFormat, "" detected) to a
// temporary sparse raw file in dir and returns its path (the caller removes it) and what
// Make did.
func (b *bootableFlags) make(ctx context.Context, in, inFormat, dir string, stderr io.Writer) (string, *bootable.Result, error) {
	tmp, err := os.CreateTemp(dir, ".chromogenic-convert-*.bootable.raw")
	if err != nil {
		return "", nil, err
	}
	tmp.Close()
	msg := fmt.Sprintf("Making %s a stand-alone bootable disk (firmware %s)", in, b.firmware)
	if b.kernel != "" {
		msg += ", external kernel " + b.kernel
	}
	fmt.Fprintf(stderr, "==> %s\n", msg)
	res, err := bootable.Make(ctx, in, tmp.Name(), bootable.Options{SourceFormat: inFormat, Firmware: b.firmware,
		Bootloader: b.bootloader, Kernel: b.kernel, Ramdisk: b.ramdisk, ExtraSize: b.extra, LVM: b.lvm, RootPartition: b.rootPartition, RootVolume: b.rootVolume, RootSubvolume: b.rootSubvolume, WorkDir: filepath.Dir(tmp.Name()), TrustGuest: !b.sandbox,
		Logf: func(f string, a ...any) { fmt.Fprintf(stderr, "    "+f+"\n", a...) }})
	if err != nil {
		os.Remove(tmp.Name())
		return "", nil, err
	}
	fmt.Fprintf(stderr, "==> Bootable disk ready: %s table, kernel %s, %s; root UUID %s\n", res.PartitionType, res.KernelVersion,
		strings.Join(res.Bootloaders, " + "), res.RootUUID)
	return tmp.Name(), res, nil
}
