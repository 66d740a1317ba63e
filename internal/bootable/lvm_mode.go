package bootable

// LVM values of Options.LVM: what becomes of a guest's LVM logical volumes.
const (
	// LVMFlatten (the default) copies each logical volume the guest mounts (and its root)
	// into a plain partition of the new disk, extent range by extent range as partitions
	// are copied, UUIDs kept; fstab entries naming /dev/mapper/<vg>-<lv> or /dev/<vg>/<lv>
	// then name the copies by UUID. The new disk needs no LVM in the guest.
	LVMFlatten = "flatten"
	// LVMKeep copies the physical volume partitions whole (MBR type 8e, GPT LVM type): the
	// volume group stays as it is. /boot must be a plain partition (extlinux cannot read a
	// logical volume) and the guest must have lvm2 for its initramfs to activate the root.
	LVMKeep = "keep"
)

// ValidLVM reports whether m is "", flatten or keep.
func ValidLVM(m string) bool { return m == "" || m == LVMFlatten || m == LVMKeep }

const (
	lvmMember = "LVM2_member"                          // blkid TYPE of a physical volume
	gptLVM    = "E6D6D379-F507-44C2-A23C-238F2A3DF928" // GPT type of Linux LVM
)
