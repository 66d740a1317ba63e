//go:build linux

package retarget

// PC converts a guest for a generic PC: real hardware, VirtualBox, VMware or plain QEMU,
// whichever disk controller and network card they show. It is the target internal/bootable
// uses when it makes a stand-alone disk: the initramfs gets the common disk controllers
// (AHCI, PATA, virtio, NVMe, LSI SCSI), the common network cards and the usual root
// filesystems, the serial console is ttyS0, Xen device names become UUIDs (never another
// kernel name, which would guess the controller) and Xen drivers stay listed (harmless off
// Xen).
const PC = "pc"

func init() {
	targetSpecs[PC] = targetSpec{
		name: PC,
		modules: []string{"ahci", "ata_piix", "ata_generic", "sd_mod", "sr_mod", "nvme",
			"virtio_pci", "virtio_blk", "virtio_scsi", "virtio_net", "virtio_console",
			"mptspi", "mptsas", "vmw_pvscsi", "e1000", "e1000e",
			"ext4", "xfs", "btrfs"},
		required: []string{"ahci", "virtio_blk", "sd_mod"},
		console:  "ttyS0",
	}
}
