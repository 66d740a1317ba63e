//go:generate packer-sdc struct-markdown
//go:generate packer-sdc mapstructure-to-hcl2 -type Config,Qcow2Options,VMDKOptions,VHDOptions,OVAOptions,BootableOptions

package convert

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/packer-plugin-sdk/common"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/bootable"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/hostfile"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/ova"
)

// Config is the chromogenic-convert post-processor's configuration.
type Config struct {
	common.PackerConfig `mapstructure:",squash"`
	// The output formats, one file each: `raw`, `qcow2`, `vmdk`, `vhd`, `ova` (an OVF 1.0
	// appliance with a stream-optimized VMDK that VirtualBox imports on double-click).
	Formats []string `mapstructure:"formats" required:"true"`
	// Where the files are written. Defaults to the directory of the input image.
	OutputDir string `mapstructure:"output_directory" required:"false"`
	// The output file name without its extension; it may use `{{.BuildName}}` and
	// `{{.Name}}` (the input file's name without extension). Defaults to `{{.Name}}`.
	FileName string `mapstructure:"file_name" required:"false"`
	// Checksum files to write next to each output (`<file>.<type>`, in `sha256sum` format):
	// any of `sha256`, `sha512`, `sha1`, `md5`. Defaults to none.
	ChecksumTypes []string `mapstructure:"checksum_types" required:"false"`
	// Number of compressing workers (VMDK stream, compressed qcow2). Defaults to every core.
	Workers int `mapstructure:"workers" required:"false"`
	// Options of the qcow2 output.
	Qcow2 Qcow2Options `mapstructure:"qcow2" required:"false"`
	// Options of the VMDK output.
	VMDK VMDKOptions `mapstructure:"vmdk" required:"false"`
	// Options of the VHD output.
	VHD VHDOptions `mapstructure:"vhd" required:"false"`
	// Options of the OVA output.
	OVA OVAOptions `mapstructure:"ova" required:"false"`
	// Make the image a stand-alone bootable disk first (partition table, kernel and
	// initramfs with a generic PC's drivers, bootloader, fstab by UUID, serial and VGA
	// console), and write every format from that disk. For Eucalyptus-style bare
	// filesystems, images booted with an external kernel, or images without a bootloader.
	Bootable *BootableOptions `mapstructure:"bootable" required:"false"`
	// Run the guest's own programs that `bootable` needs (its initramfs tool,
	// grub-mkstandalone) in a sandbox: namespaces, pivot_root into the guest, a fresh `/proc`,
	// a private `/dev`, a cut capability set, a seccomp filter, a fixed environment and no
	// network (see docs/trust-model.md). Needs bubblewrap (`bwrap`) on the host. Defaults to
	// `true`; `false` runs them with plain chroot and the host's `/proc`, `/sys` and `/dev`
	// mounted in the guest: it **trusts the guest**.
	Sandbox *bool `mapstructure:"sandbox" required:"false"`
	// The mode of the files written (outputs and checksum files), as an octal string.
	// Defaults to `"0600"`: the image can hold the guest's secrets, so only the owner may read
	// it. Use `"0640"` to give the file's group read access. An `output_directory` the
	// post-processor creates gets the matching directory mode (`0700`, `0750`).
	FileMode string `mapstructure:"file_mode" required:"false"`

	ctx      interpolate.Context
	fileMode os.FileMode
}

// Qcow2Options configure the qcow2 output.
type Qcow2Options struct {
	// Compression: `""` (none, the default), `zlib` (readable everywhere) or `zstd` (faster;
	// needs qemu 5.1 or later to read).
	Compression string `mapstructure:"compression"`
	// Compression level, 1 (fastest) to 9 (smallest); 0 picks the default.
	Level int `mapstructure:"level"`
}

// VMDKOptions configure the VMDK output.
type VMDKOptions struct {
	// `streamOptimized` (the default: compressed, what OVA, ESXi and AWS import take) or
	// `monolithicSparse`.
	Subformat string `mapstructure:"subformat"`
	// The disk adapter recorded in the descriptor: `lsilogic` (default), `ide`, `buslogic`,
	// `legacyESX`, `pvscsi` or `lsisas1068`.
	AdapterType string `mapstructure:"adapter_type"`
}

// VHDOptions configure the VHD output.
type VHDOptions struct {
	// `dynamic` (the default) or `fixed`.
	Subformat string `mapstructure:"subformat"`
	// Round a fixed VHD up to a whole MiB, as Azure requires. Implies `fixed`.
	Azure bool `mapstructure:"azure"`
}

// OVAOptions configure the OVA output. The guest OS type comes from the guest's os-release
// when the builder recorded it.
type OVAOptions struct {
	// The virtual machine name. Defaults to the output file name.
	Name string `mapstructure:"name"`
	// Virtual CPUs (default 1).
	CPUs int `mapstructure:"cpus"`
	// Memory in MiB (default 1024).
	Memory int `mapstructure:"memory"`
	// `bios` (default) or `efi`.
	Firmware string `mapstructure:"firmware"`
	// Disk controller: `sata` (AHCI, the default), `scsi` (LSI Logic), `ide`, or `pvscsi`
	// (VMware paravirtual SCSI, `profile = "vsphere"` only).
	Controller string `mapstructure:"controller"`
	// Manifest digest: `sha256` (the default; ESXi 6.5 and later, ovftool 4, VirtualBox 5
	// and later), `sha1` (ESXi and vCenter 5.x and 6.0, VirtualBox 4) or `sha512` (not every
	// reader checks it: virt-v2v 2.2 skips SHA512 lines).
	Hash string `mapstructure:"hash"`
	// The importer the descriptor is written for: `generic` (the default: VMware's and
	// VirtualBox's settings in one descriptor, virtual hardware family `vmx-13`), `vsphere`
	// (VMware's settings only: virtual hardware family `vmx-<hardware_version>`, firmware as
	// a `vmw:Config` setting, SATA needs hardware version 10 or later, `pvscsi` allowed) or
	// `virtualbox` (VirtualBox's settings only: family `virtualbox-2.2` as `VBoxManage
	// export` writes, SATA as `AHCI`, EFI firmware in a `vbox:Machine` section).
	Profile string `mapstructure:"profile"`
	// VMware virtual hardware version of the `vsphere` profile, 4 to 99: `14` (the default,
	// ESXi 6.7 and later), `17` (ESXi 7.0), `19` (7.0 U2), `20` (8.0), `21` (8.0 U2). Only with
	// `profile = "vsphere"`.
	HardwareVersion int `mapstructure:"hardware_version"`
}

// BootableOptions turn the image into a disk that boots on its own (bare metal, VirtualBox,
// VMware, plain QEMU). The bootable disk is made as a temporary sparse file in the output
// directory and removed once every format is written. Needs root (loop devices, mounts),
// bubblewrap (see `sandbox`) and, on the host, grub-pc-bin (BIOS GRUB) or extlinux and syslinux-common (BIOS), grub-efi-amd64-bin (EFI,
// when the guest has no GRUB for EFI), dosfstools and mtools (ESP).
type BootableOptions struct {
	// `bios` (the default: MBR, GRUB or extlinux as `bootloader` says), `efi` (GPT, EFI system partition with GRUB at
	// the removable-media path `EFI/BOOT/BOOTX64.EFI`) or `both` (GPT with an ESP and a
	// legacy-BIOS-bootable root: boots with either firmware). The OVA's firmware follows:
	// `efi` for `efi`, `bios` otherwise.
	Firmware string `mapstructure:"firmware"`
	// Host path of an external kernel (bzImage) to fold into the guest's `/boot`: the
	// Eucalyptus eki or OpenStack `kernel_id` image. Defaults to the artifact's `kernel_path`
	// state, else the guest's own newest kernel. The guest must have its modules
	// (`/lib/modules/<version>`), or `ramdisk` is used as it is.
	Kernel string `mapstructure:"kernel"`
	// Host path of the external ramdisk (Eucalyptus eri, OpenStack `ramdisk_id`). Defaults
	// to the artifact's `ramdisk_path` state. Rebuilt by the guest's own tool when the guest
	// has the kernel's modules (the original is kept as `*.pre-chromogenic`).
	Ramdisk string `mapstructure:"ramdisk"`
	// Grow the root partition and filesystem by this much, e.g. `2G` or `512M`.
	ExtraSize         string `mapstructure:"extra_size"`
	BootloaderOptions `mapstructure:",squash"`
	// What becomes of a guest on LVM: `flatten` (the default: each logical volume the
	// guest's fstab mounts, and its root, becomes a plain partition of the new disk with its
	// filesystem's UUID kept; fstab entries naming `/dev/mapper/<vg>-<lv>` or `/dev/<vg>/<lv>`
	// then name it by `UUID=`, and those of logical volumes left out are commented out) or
	// `keep` (the physical volume partitions copied whole, the volume group unchanged; the
	// kernel boots `root=/dev/mapper/<vg>-<lv>`). `keep` needs lvm2 in the guest (`/sbin/lvm`)
	// and, for BIOS, `/boot` on a plain partition (extlinux cannot read a logical volume),
	// and takes no `extra_size`. A volume group spanning the guest's disks (a logical volume
	// the fstab mounts on another disk than the boot disk) needs `keep`: the other disks go
	// into the outputs as they are, and `flatten` refuses it, naming the volume.
	LVM string `mapstructure:"lvm"`
	// The partition number holding the guest's root filesystem, when the builders' rule would
	// pick another (several roots). Defaults to the artifact's `root_partition` state: the
	// builder's own `root_partition`, so the root a build provisioned is the one that boots.
	// Use either `root_partition` or `root_volume`.
	RootPartition int `mapstructure:"root_partition"`
	// The LVM logical volume holding the guest's root, as `vg/lv`, when the rule of the
	// builders' `root_partition` would pick another (several roots). Defaults to the
	// artifact's `root_volume` state: the builder's own `root_volume`, so the root a build
	// provisioned is the one that boots.
	RootVolume string `mapstructure:"root_volume"`
	// On a btrfs root, the subvolume holding the guest's root, as a path from the top level
	// (`@`, `@/.snapshots/2/snapshot`; `/` for the top level), as the builders'
	// `root_subvolume`. Defaults to the artifact's `root_subvolume` state (the builder's own
	// `root_subvolume`), else the builders' rule (the default subvolume first). A kernel in
	// that subvolume's own `/boot` (openSUSE) needs GRUB: `extlinux` is refused.
	RootSubvolume string `mapstructure:"root_subvolume"`
}

var checksumTypes = map[string]bool{"sha256": true, "sha512": true, "sha1": true, "md5": true}

var (
	qcow2Compressions = map[string]bool{"": true, "none": true, "zlib": true, "zstd": true}
	vmdkSubformats    = map[string]bool{"": true, "streamoptimized": true, "monolithicsparse": true}
	vmdkAdapters      = map[string]string{"": "", "lsilogic": "lsilogic", "ide": "ide", "buslogic": "buslogic",
		"legacyesx": "legacyESX", "pvscsi": "pvscsi", "lsisas1068": "lsisas1068"}
	vhdSubformats = map[string]bool{"": true, "dynamic": true, "fixed": true}
)

// Prepare decodes and validates; every error names its field.
func (c *Config) Prepare(raws ...interface{}) error {
	err := config.Decode(c, &config.DecodeOpts{
		PluginType:         BuilderID,
		Interpolate:        true,
		InterpolateContext: &c.ctx,
		InterpolateFilter:  &interpolate.RenderFilter{Exclude: []string{"file_name"}},
	}, raws...)
	if err != nil {
		return err
	}
	var errs *packersdk.MultiError
	if len(c.Formats) == 0 {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("formats is required: one or more of %s", strings.Join(diskimage.WriterFormats(), ", ")))
	}
	seen := map[string]bool{}
	for i, f := range c.Formats {
		f = strings.ToLower(strings.TrimSpace(f))
		if fm, err := diskimage.Lookup(f); err != nil || fm.Writer == nil {
			errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("formats: unknown format %q (known: %s)", f, strings.Join(diskimage.WriterFormats(), ", ")))
		} else {
			f = fm.Name // "vpc" is "vhd"
		}
		c.Formats[i] = f
		if seen[f] {
			errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("formats: %q given twice", f))
		}
		seen[f] = true
	}
	if c.FileName == "" {
		c.FileName = "{{.Name}}"
	}
	if err := interpolate.Validate(c.FileName, &c.ctx); err != nil {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("file_name: %w", err))
	} else if strings.Contains(c.FileName, "/") {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("file_name %q must be a file name, not a path", c.FileName))
	}
	for _, t := range c.ChecksumTypes {
		if !checksumTypes[strings.ToLower(t)] {
			errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("checksum_types: unknown type %q (known: sha256, sha512, sha1, md5)", t))
		}
	}
	if c.Workers < 0 {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("workers must not be negative"))
	}
	if !qcow2Compressions[strings.ToLower(c.Qcow2.Compression)] {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("qcow2.compression: unknown %q (zlib, zstd or empty)", c.Qcow2.Compression))
	}
	if c.Qcow2.Level < 0 || c.Qcow2.Level > 9 {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("qcow2.level must be 0 to 9, not %d", c.Qcow2.Level))
	}
	if !vmdkSubformats[strings.ToLower(c.VMDK.Subformat)] {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("vmdk.subformat: unknown %q (streamOptimized or monolithicSparse)", c.VMDK.Subformat))
	}
	if canonical, ok := vmdkAdapters[strings.ToLower(c.VMDK.AdapterType)]; ok {
		c.VMDK.AdapterType = canonical
	} else {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("vmdk.adapter_type: unknown %q (lsilogic, ide, buslogic, legacyESX, pvscsi, lsisas1068)", c.VMDK.AdapterType))
	}
	if !vhdSubformats[strings.ToLower(c.VHD.Subformat)] {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("vhd.subformat: unknown %q (dynamic or fixed)", c.VHD.Subformat))
	}
	if c.VHD.Azure && strings.EqualFold(c.VHD.Subformat, "dynamic") {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("vhd.azure needs a fixed VHD, but vhd.subformat is dynamic"))
	}
	if c.OVA.CPUs < 0 || c.OVA.Memory < 0 {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("ova.cpus and ova.memory must not be negative"))
	}
	if f := c.OVA.Firmware; f != "" && f != "bios" && f != "efi" {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("ova.firmware %q: want bios or efi", f))
	}
	if ct := c.OVA.Controller; ct != "" && ct != "sata" && ct != "scsi" && ct != "ide" && ct != "pvscsi" {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("ova.controller %q: want sata, scsi, ide or pvscsi", ct))
	} else if h := c.OVA.Hash; h != "" && h != "sha256" && h != "sha1" && h != "sha512" {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("ova.hash %q: want sha256, sha1 or sha512", h))
	} else if err := (ova.Options{Controller: ct, Hash: h, Profile: c.OVA.Profile, HardwareVersion: c.OVA.HardwareVersion}).Check(); err != nil {
		// The profile's own rules: ova.profile, ova.hardware_version and the controllers
		// each profile takes.
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("%w (in the ova block)", err))
	}
	if b := c.Bootable; b != nil {
		b.Firmware = strings.ToLower(strings.TrimSpace(b.Firmware))
		if b.Firmware == "" {
			b.Firmware = bootable.FirmwareBIOS
		}
		if b.Firmware == "uefi" {
			b.Firmware = bootable.FirmwareEFI
		}
		if !bootable.ValidFirmware(b.Firmware) {
			errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("bootable.firmware %q: want bios, efi or both", b.Firmware))
		} else if f := c.OVA.Firmware; f != "" && f != ovaFirmwareFor(b.Firmware) {
			errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("ova.firmware %q does not match bootable.firmware %q (leave ova.firmware unset: it follows the bootloader)", f, b.Firmware))
		}
		if b.Bootloader = strings.ToLower(strings.TrimSpace(b.Bootloader)); !bootable.ValidBootloader(b.Bootloader) {
			errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("bootable.bootloader %q: want grub or extlinux", b.Bootloader))
		}
		if !bootable.ValidLVM(b.LVM) {
			errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("bootable.lvm %q: want flatten or keep", b.LVM))
		}
		for name, path := range map[string]string{"bootable.kernel": b.Kernel, "bootable.ramdisk": b.Ramdisk} {
			if path == "" {
				continue
			}
			if fi, err := os.Stat(path); err != nil {
				errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("%s: %w", name, err))
			} else if !fi.Mode().IsRegular() {
				errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("%s: %s is not a regular file", name, path))
			}
		}
		if b.Kernel != "" {
			if _, err := bootable.KernelVersion(b.Kernel); err != nil && !os.IsNotExist(err) {
				errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("bootable.kernel: %w", err))
			}
		}
		if b.Ramdisk != "" && b.Kernel == "" {
			errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("bootable.ramdisk needs bootable.kernel: a ramdisk alone cannot be matched to a kernel"))
		}
		if err := bootable.ValidateRoot("bootable.root_volume", b.RootVolume, "bootable.root_subvolume", b.RootSubvolume); err != nil {
			errs = packersdk.MultiErrorAppend(errs, err)
		}
		if err := bootable.ValidateRootPartition("bootable.root_partition", b.RootPartition, "bootable.root_volume", b.RootVolume); err != nil {
			errs = packersdk.MultiErrorAppend(errs, err)
		}
		if b.ExtraSize != "" {
			if _, err := bootable.ParseSize(b.ExtraSize); err != nil {
				errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("bootable.extra_size: %w", err))
			}
		}
	}
	if c.OutputDir != "" {
		c.OutputDir = filepath.Clean(c.OutputDir)
	}
	if m, err := hostfile.ParseMode("file_mode", c.FileMode); err != nil {
		errs = packersdk.MultiErrorAppend(errs, err)
	} else {
		c.fileMode = m
	}
	if errs != nil && len(errs.Errors) > 0 {
		return errs
	}
	return nil
}

// ovaFirmware is the OVA firmware that starts a bootable disk of the given firmware: EFI
// only for an EFI-only disk; a hybrid disk is started with BIOS, which every hypervisor has.
func ovaFirmwareFor(bootableFirmware string) string {
	if bootableFirmware == bootable.FirmwareEFI {
		return "efi"
	}
	return "bios"
}

// writeOptions returns the engine options for one output format.
func (c *Config) writeOptions(format string) diskimage.WriteOptions {
	o := diskimage.WriteOptions{Workers: c.Workers}
	switch format {
	case "qcow2":
		o.Compression = strings.ToLower(c.Qcow2.Compression)
		if o.Compression == "none" {
			o.Compression = ""
		}
		o.Level = c.Qcow2.Level
	case "vmdk":
		o.Subformat = c.VMDK.Subformat
		o.AdapterType = c.VMDK.AdapterType
	case "vhd":
		o.Subformat = c.VHD.Subformat
		if c.VHD.Azure {
			o.Subformat, o.AzureAlign = "fixed", true
		}
	}
	return o
}

// hostFileMode is the mode of the files written (file_mode, 0600 by default).
func (c *Config) hostFileMode() os.FileMode {
	if c.fileMode == 0 {
		return hostfile.DefaultFileMode
	}
	return c.fileMode
}
