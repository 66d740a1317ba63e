package bootable

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
)

// Firmware values.
const (
	FirmwareBIOS = "bios"
	FirmwareEFI  = "efi"
	FirmwareBoth = "both"
)

// ValidFirmware reports whether f is bios, efi or both.
func ValidFirmware(f string) bool { return f == FirmwareBIOS || f == FirmwareEFI || f == FirmwareBoth }

const (
	mib     = int64(1) << 20
	espSize = 64 * mib

	gptESP   = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
	gptRoot  = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709" // Linux root (x86-64), discoverable partitions
	gptLinux = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
	gptSwap  = "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F"
)

// Partition roles in a layout.
const (
	roleESP  = "esp"
	roleRoot = "root"
	roleData = "data" // another guest filesystem (/boot, /home, swap...)
)

// slot is one partition of the new disk.
type slot struct {
	Role   string
	Start  int64 // bytes, MiB-aligned
	Size   int64 // bytes, whole MiB
	FSSize int64 // bytes of the filesystem copied into it (0 for the ESP)
	FSType string
	Source int // index into the source filesystems (-1 for the ESP)
}

// layout is the partition table of the new disk.
type layout struct {
	Firmware string
	Label    string // "dos" or "gpt"
	Size     int64  // bytes of the whole disk
	Slots    []slot
}

// srcFS is a filesystem of the source image to copy.
type srcFS struct {
	Size   int64
	FSType string
	Root   bool
}

func roundMiB(n int64) int64 { return (n + mib - 1) / mib * mib }

// planLayout lays out the new disk: [ESP] then the source filesystems in order, each in a
// MiB-aligned partition, the root grown by extra bytes.
func planLayout(firmware string, fss []srcFS, extra int64) (*layout, error) {
	if !ValidFirmware(firmware) {
		return nil, fmt.Errorf("firmware %q: want bios, efi or both", firmware)
	}
	if extra < 0 {
		return nil, fmt.Errorf("extra size must not be negative")
	}
	l := &layout{Firmware: firmware, Label: "gpt"}
	if firmware == FirmwareBIOS {
		l.Label = "dos"
		if len(fss) > 4 {
			return nil, fmt.Errorf("%d filesystems to copy do not fit in an MBR's 4 primary partitions: use firmware efi or both (GPT)", len(fss))
		}
	}
	off := mib
	if firmware != FirmwareBIOS {
		l.Slots = append(l.Slots, slot{Role: roleESP, Start: off, Size: espSize, FSType: "vfat", Source: -1})
		off += espSize
	}
	roots := 0
	for i, fs := range fss {
		s := slot{Role: roleData, Start: off, FSSize: fs.Size, FSType: fs.FSType, Source: i}
		s.Size = roundMiB(fs.Size)
		if fs.Root {
			roots++
			s.Role = roleRoot
			s.Size = roundMiB(fs.Size + extra)
		}
		if s.Size == 0 {
			return nil, fmt.Errorf("filesystem %d is empty", i)
		}
		l.Slots = append(l.Slots, s)
		off += s.Size
	}
	if roots != 1 {
		return nil, fmt.Errorf("want exactly one root filesystem, got %d", roots)
	}
	l.Size = off + mib // room for the GPT backup header (and alignment)
	return l, nil
}

// Slot returns the first slot of a role.
func (l *layout) slot(role string) *slot {
	for i := range l.Slots {
		if l.Slots[i].Role == role {
			return &l.Slots[i]
		}
	}
	return nil
}

// script is the sfdisk script of the layout.
func (l *layout) script() string {
	var b strings.Builder
	fmt.Fprintf(&b, "label: %s\nunit: sectors\n", l.Label)
	for _, s := range l.Slots {
		fmt.Fprintf(&b, "start=%d, size=%d", s.Start/512, s.Size/512)
		switch {
		case s.FSType == lvmMember && l.Label == "dos":
			b.WriteString(", type=8e")
		case s.FSType == lvmMember:
			fmt.Fprintf(&b, `, type=%s, name="lvm"`, gptLVM)
		case l.Label == "dos" && s.FSType == "swap":
			b.WriteString(", type=82")
		case l.Label == "dos":
			b.WriteString(", type=83")
			if s.Role == roleRoot {
				b.WriteString(", bootable")
			}
		case s.Role == roleBIOSBoot:
			fmt.Fprintf(&b, `, type=%s, name="BIOS boot"`, gptBIOSBoot)
		case s.Role == roleESP:
			fmt.Fprintf(&b, `, type=%s, name="EFI System Partition"`, gptESP)
		case s.Role == roleRoot:
			fmt.Fprintf(&b, `, type=%s, name="root"`, gptRoot)
			if l.Firmware == FirmwareBoth {
				b.WriteString(`, attrs="LegacyBIOSBootable"`)
			}
		case s.FSType == "swap":
			fmt.Fprintf(&b, `, type=%s, name="swap"`, gptSwap)
		default:
			fmt.Fprintf(&b, `, type=%s`, gptLinux)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// writeTable writes the partition table of l to the disk image at path (already l.Size long).
func (l *layout) writeTable(path string) error {
	cmd := exec.Command("sfdisk", "-q", "--no-reread", "--no-tell-kernel", path)
	cmd.Stdin = strings.NewReader(l.script())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("sfdisk %s: %v: %s", path, err, strings.TrimSpace(out.String()))
	}
	return nil
}
