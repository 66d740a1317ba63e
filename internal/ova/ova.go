// Package ova writes OVA appliances: a tar of an OVF 1.0 descriptor, a streamOptimized
// VMDK and a manifest, for VirtualBox (double-click import) and VMware (ovftool, vSphere);
// Options.Profile writes the descriptor for both (generic) or for one of them (vsphere,
// virtualbox; see descriptor.go). It also reads OVAs (read.go), which it trusts in nothing:
// the descriptor and manifest are parsed within bounds and Archive.Verify checks the
// manifest's SHA1, SHA256 or SHA512 digests.
//
// Archive layout, in this order: <name>.ovf, <name>-disk1.vmdk (then -disk2.vmdk... for
// Options.ExtraDisks), <name>.mf. Members are
// USTAR, except a disk of 8 GiB or more, whose header is GNU (base-256 size), as in
// ova-compose; uid/gid 0, mode 0644.
//
// No temporary copy of the disk: Write writes straight into the output file. The VMDK
// size is not known before it is compressed, so its tar header is written as a
// placeholder and patched once the disk is complete, and the descriptor reserves a
// fixed-width slot for the disk's ovf:size that is patched the same way (padded with
// spaces, which XML ignores inside a tag). The VMDK's own header is patched too (it
// carries the grain directory offset, for OpenStack's format inspector; see
// diskimage.VMDKPatcher), so the disk's digest is computed by reading the member back once
// it is complete; the descriptor's after its patch; the manifest comes last. The output
// must therefore be a seekable regular file (the alternative, compressing the disk twice
// to learn its size first, costs more than a seek and a read).
package ova

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
)

// Options describe the appliance.
type Options struct {
	// Name is the virtual machine name and the base of the member file names; default
	// "appliance". Characters outside [A-Za-z0-9._-] become "_" in file names.
	Name string
	// OS is the guest's os-release, if known (see ReadOSRelease); nil means generic
	// 64-bit Linux.
	OS *OSRelease
	// CPUs (default 1) and MemoryMiB (default 1024) of the virtual machine.
	CPUs      int
	MemoryMiB int
	// Firmware is "bios" (default) or "efi".
	Firmware string
	// Controller is the disk controller: "sata" (AHCI, default), "scsi" (LSI Logic), "ide",
	// or "pvscsi" (VMware paravirtual SCSI; vsphere profile only).
	Controller string
	// Hash is the manifest digest: "sha256" (default; ESXi 6.5+, ovftool 4, VirtualBox 5+),
	// "sha1" (ESXi and vCenter 5.x, old VirtualBox) or "sha512".
	Hash string
	// Profile is the consumer the descriptor is written for: "generic" (default: both
	// VMware's and VirtualBox's hints, vmx-13), "vsphere" or "virtualbox" (see descriptor.go).
	Profile string
	// HardwareVersion is the VMware virtual hardware version of the vsphere profile
	// (VirtualSystemType vmx-<N>): default 14 (ESXi 6.7 and later); 10 or more for a SATA
	// controller. Only for the vsphere profile.
	HardwareVersion int
	// Level and Workers tune the VMDK compression (see diskimage.WriteOptions).
	Level, Workers int
	// ModTime of the archive members; zero means now.
	ModTime time.Time
	// Progress is called with the guest bytes written so far (of every disk, in total).
	Progress diskimage.Progress
	// ExtraDisks are the other disks of a guest on several disks, written after src as
	// <name>-disk2.vmdk and so on, each a Disk and File of its own on the one controller,
	// at units 1, 2... (IDE holds two disks at most).
	ExtraDisks []diskimage.Image
}

// Result lists what Write put in the archive.
type Result struct {
	Members []Member
	Size    int64 // size of the OVA file
}

// Member is one file of the archive with its manifest digest.
type Member struct {
	Name   string
	Size   int64
	Digest string // hex
}

func (o *Options) defaults() error {
	if o.Name == "" {
		o.Name = "appliance"
	}
	if o.CPUs == 0 {
		o.CPUs = 1
	}
	if o.MemoryMiB == 0 {
		o.MemoryMiB = 1024
	}
	if o.CPUs < 1 || o.CPUs > 768 {
		return fmt.Errorf("ova: %d CPUs", o.CPUs)
	}
	if o.MemoryMiB < 4 || o.MemoryMiB > 24<<20 {
		return fmt.Errorf("ova: %d MiB of memory", o.MemoryMiB)
	}
	o.Firmware = strings.ToLower(o.Firmware)
	switch o.Firmware {
	case "":
		o.Firmware = "bios"
	case "bios", "efi":
	case "uefi":
		o.Firmware = "efi"
	default:
		return fmt.Errorf("ova: firmware %q (want bios or efi)", o.Firmware)
	}
	o.Controller = strings.ToLower(o.Controller)
	if o.Controller == "" {
		o.Controller = "sata"
	}
	if _, ok := controllers[o.Controller]; !ok {
		return fmt.Errorf("ova: disk controller %q (want sata, scsi, ide or pvscsi)", o.Controller)
	}
	o.Profile = strings.ToLower(o.Profile)
	switch o.Profile {
	case "":
		o.Profile = ProfileGeneric
	case ProfileGeneric, ProfileVSphere, ProfileVirtualBox:
	default:
		return fmt.Errorf("ova: profile %q (want generic, vsphere or virtualbox)", o.Profile)
	}
	if o.HardwareVersion != 0 && o.Profile != ProfileVSphere {
		return fmt.Errorf("ova: hardware_version %d is for profile vsphere, not %s", o.HardwareVersion, o.Profile)
	}
	if o.Profile == ProfileVSphere {
		if o.HardwareVersion == 0 {
			o.HardwareVersion = DefaultHardwareVersion
		}
		if o.HardwareVersion < MinHardwareVersion || o.HardwareVersion > MaxHardwareVersion {
			return fmt.Errorf("ova: hardware_version %d (want %d to %d: vmx-%d is ESXi 6.7, vmx-21 ESXi 8.0 U2)",
				o.HardwareVersion, MinHardwareVersion, MaxHardwareVersion, DefaultHardwareVersion)
		}
		if o.Controller == "sata" && o.HardwareVersion < 10 {
			return fmt.Errorf("ova: controller sata needs hardware_version 10 or later (ESXi 5.5), not %d: use controller scsi or pvscsi", o.HardwareVersion)
		}
	} else if o.Controller == "pvscsi" {
		return fmt.Errorf("ova: controller pvscsi is for profile vsphere (VirtualBox refuses it), not %s", o.Profile)
	}
	o.Hash = strings.ToLower(o.Hash)
	if o.Hash == "" {
		o.Hash = "sha256"
	}
	if newHash(o.Hash) == nil {
		return fmt.Errorf("ova: manifest hash %q (want sha256, sha1 or sha512)", o.Hash)
	}
	if o.ModTime.IsZero() {
		o.ModTime = time.Now()
	}
	return nil
}

// Profiles (Options.Profile).
const (
	ProfileGeneric    = "generic"
	ProfileVSphere    = "vsphere"
	ProfileVirtualBox = "virtualbox"
)

// VMware virtual hardware versions the vsphere profile takes: vmx-4 (ESX 3.5) to vmx-99,
// default vmx-14 (ESXi 6.7 and later; vmx-17 is ESXi 7.0, vmx-20 ESXi 8.0).
const (
	MinHardwareVersion     = 4
	MaxHardwareVersion     = 99
	DefaultHardwareVersion = 14
)

// descProfile fills the profile's parts of the descriptor.
func descProfile(d *descData, o *Options) {
	switch o.Profile {
	case ProfileVSphere:
		d.VMware, d.SystemType = true, fmt.Sprintf("vmx-%02d", o.HardwareVersion)
	case ProfileVirtualBox:
		d.VBox, d.SystemType = true, "virtualbox-2.2"
		if o.Controller == "sata" {
			d.Controller = vboxSATA
		}
	default:
		d.VMware, d.VBox, d.SystemType = true, true, "vmx-13"
	}
}

// Check reports what is wrong with o (the error names the option: profile,
// hardware_version, controller...), as Write would; o is not changed.
func (o Options) Check() error { return o.defaults() }

func newHash(name string) hash.Hash {
	switch name {
	case "sha1":
		return sha1.New()
	case "sha256":
		return sha256.New()
	case "sha512":
		return sha512.New()
	}
	return nil
}

// fileBase turns a VM name into a safe member file name base (tar names stay < 100 bytes).
func fileBase(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	s := strings.TrimLeft(string(b), ".")
	if len(s) > 80 {
		s = s[:80]
	}
	if s == "" {
		s = "appliance"
	}
	return s
}

func uuid4() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// tarHeader encodes one 512-byte header block: USTAR below 8 GiB, GNU above.
func tarHeader(name string, size int64, mtime time.Time) ([]byte, error) {
	h := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Size:     size,
		Mode:     0o644,
		ModTime:  mtime.Truncate(time.Second),
		Uname:    "root",
		Gname:    "root",
		Format:   tar.FormatUSTAR,
	}
	if size > 1<<33-1 { // USTAR holds 11 octal digits
		h.Format = tar.FormatGNU
	}
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(h); err != nil {
		return nil, err
	}
	if b.Len() != 512 {
		return nil, fmt.Errorf("ova: tar header for %s is %d bytes", name, b.Len())
	}
	return b.Bytes(), nil
}

// output writes sequentially to the file, tracking the position, hashing on request.
type output struct {
	f   *os.File
	pos int64
}

func (w *output) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.pos += int64(n)
	return n, err
}

// member is the disk member being written: a diskimage.VMDKPatcher whose offsets count
// from the member's first byte.
type member struct {
	*output
	start int64
}

func (m member) PatchAt(p []byte, off int64) error {
	if off < 0 || m.start+off+int64(len(p)) > m.pos {
		return fmt.Errorf("ova: patch of %d bytes at %d outside the disk member", len(p), off)
	}
	_, err := m.f.WriteAt(p, m.start+off)
	return err
}

func (w *output) pad() error {
	if r := w.pos % 512; r != 0 {
		_, err := w.Write(make([]byte, 512-r))
		return err
	}
	return nil
}

// Write writes src as an OVA appliance into out, which must be a regular file; it is
// truncated first. It does not fsync.
func Write(ctx context.Context, out *os.File, src diskimage.Image, o Options) (*Result, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	st, err := out.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("ova: %s is not a regular file (the archive is patched in place)", out.Name())
	}
	if err := out.Truncate(0); err != nil {
		return nil, err
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	base := fileBase(o.Name)
	ovfName, diskName, mfName := base+".ovf", base+"-disk1.vmdk", base+".mf"
	guest := genericLinux
	if o.OS != nil {
		guest = lookupGuest(*o.OS)
	}
	disks := append([]diskimage.Image{src}, o.ExtraDisks...)
	if o.Controller == "ide" && len(disks) > 2 {
		return nil, fmt.Errorf("ova: %d disks on controller ide, which holds two: use sata or scsi", len(disks))
	}
	dd := descData{
		Name: o.Name, DiskFile: diskName, DiskID: "vmdisk1",
		Capacity: src.Size(), CPUs: o.CPUs, MemoryMiB: o.MemoryMiB,
		OS: guest, EFI: o.Firmware == "efi", Controller: controllers[o.Controller],
		VMUUID: uuid4(), DiskUUID: uuid4(),
	}
	names := []string{diskName}
	var total int64
	for i, d := range disks {
		total += d.Size()
		if i == 0 {
			continue
		}
		e := extraDisk{File: fmt.Sprintf("%s-disk%d.vmdk", base, i+1), FileID: fmt.Sprintf("file%d", i+1),
			DiskID: fmt.Sprintf("vmdisk%d", i+1), Capacity: d.Size(), UUID: uuid4(), Unit: i, InstanceID: 6 + i,
			VBoxPort: i}
		if o.Controller == "ide" {
			e.VBoxPort, e.VBoxDevice = 0, i // master and slave of the primary channel
		}
		dd.Others = append(dd.Others, e)
		names = append(names, e.File)
	}
	descProfile(&dd, &o)
	ovf, slots, err := descriptorSlots(dd)
	if err != nil {
		return nil, err
	}
	w := &output{f: out}
	hdr, err := tarHeader(ovfName, int64(len(ovf)), o.ModTime)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(hdr); err != nil {
		return nil, err
	}
	ovfOff := w.pos
	if _, err := w.Write(ovf); err != nil {
		return nil, err
	}
	if err := w.pad(); err != nil {
		return nil, err
	}

	vw, err := diskimage.LookupWriter("vmdk")
	if err != nil {
		return nil, err
	}
	adapter := "ide"
	if o.Controller == "scsi" || o.Controller == "pvscsi" {
		adapter = "lsilogic" // VMware writes lsilogic for pvscsi disks too
	}
	var diskMembers []Member
	var done int64
	for i, d := range disks {
		m, err := writeDisk(ctx, w, out, vw, d, names[i], adapter, o, func(n, _ int64) {
			if o.Progress != nil {
				o.Progress(done+n, total)
			}
		})
		if err != nil {
			return nil, err
		}
		done += d.Size()
		if err := patchSize(ovf, slots[i], m.Size); err != nil {
			return nil, err
		}
		if _, err := out.WriteAt(ovf[slots[i]:slots[i]+sizeSlot], ovfOff+int64(slots[i])); err != nil {
			return nil, err
		}
		diskMembers = append(diskMembers, m)
	}
	oh := newHash(o.Hash)
	oh.Write(ovf)
	ovfSum := hex.EncodeToString(oh.Sum(nil))

	// Manifest, then the end-of-archive blocks.
	alg := strings.ToUpper(o.Hash)
	mf := fmt.Sprintf("%s(%s)= %s\n", alg, ovfName, ovfSum)
	for _, m := range diskMembers {
		mf += fmt.Sprintf("%s(%s)= %s\n", alg, m.Name, m.Digest)
	}
	if hdr, err = tarHeader(mfName, int64(len(mf)), o.ModTime); err != nil {
		return nil, err
	}
	if _, err := w.Write(hdr); err != nil {
		return nil, err
	}
	if _, err := w.Write([]byte(mf)); err != nil {
		return nil, err
	}
	if err := w.pad(); err != nil {
		return nil, err
	}
	if _, err := w.Write(make([]byte, 1024)); err != nil {
		return nil, err
	}
	mh := newHash(o.Hash)
	mh.Write([]byte(mf))
	members := append([]Member{{ovfName, int64(len(ovf)), ovfSum}}, diskMembers...)
	return &Result{
		Members: append(members, Member{mfName, int64(len(mf)), hex.EncodeToString(mh.Sum(nil))}),
		Size:    w.pos,
	}, nil
}

// writeDisk writes one disk member: a placeholder tar header, the streamOptimized VMDK of
// src (hashed by reading it back once its header is patched), then the real header.
func writeDisk(ctx context.Context, w *output, out *os.File, vw diskimage.Writer, src diskimage.Image, name, adapter string, o Options, progress diskimage.Progress) (Member, error) {
	diskHdrOff := w.pos
	if _, err := w.Write(make([]byte, 512)); err != nil {
		return Member{}, err
	}
	diskStart := w.pos
	wo := diskimage.WriteOptions{Subformat: "streamOptimized", AdapterType: adapter, ExtentName: name,
		Level: o.Level, Workers: o.Workers, Progress: progress}
	// member hides the *os.File: the VMDK writer streams into the archive and patches only
	// its own header, within the member.
	if err := vw.Write(ctx, member{w, diskStart}, src, wo); err != nil {
		return Member{}, err
	}
	diskSize := w.pos - diskStart
	dh := newHash(o.Hash)
	if _, err := io.Copy(dh, io.NewSectionReader(out, diskStart, diskSize)); err != nil {
		return Member{}, fmt.Errorf("ova: reading the disk member back for its digest: %w", err)
	}
	if err := w.pad(); err != nil {
		return Member{}, err
	}
	hdr, err := tarHeader(name, diskSize, o.ModTime)
	if err != nil {
		return Member{}, err
	}
	if _, err := out.WriteAt(hdr, diskHdrOff); err != nil {
		return Member{}, err
	}
	return Member{name, diskSize, hex.EncodeToString(dh.Sum(nil))}, nil
}

var _ diskimage.VMDKPatcher = member{}
