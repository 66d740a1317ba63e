package ova

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vmware/govmomi/ovf"
)

// FuzzDescriptor feeds arbitrary VM names and guest os-release content (both come from
// users or from the guest image) through the descriptor: it must stay well-formed XML that
// govmomi parses back with the same name, whatever the input.
//
//	go test -fuzz FuzzDescriptor ./internal/ova/
func FuzzDescriptor(f *testing.F) {
	f.Add("vm", "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n", 2, 2048, true, uint8(0))
	f.Add("a<b>&\"c\"]]>", "ID=\"ubuntu\"\nID_LIKE=debian\nNAME='x&y'\n", 1, 512, false, uint8(1))
	f.Add("\x00\x01\uFFFE", "ID=\x00\nPRETTY_NAME=\"\\\"quoted\\\"\"\n", 0, 0, true, uint8(2))
	f.Fuzz(func(t *testing.T, name, osRelease string, cpus, mem int, efi bool, profile uint8) {
		osr, err := ParseOSRelease(strings.NewReader(osRelease))
		if err != nil {
			return
		}
		o := Options{Name: name, OS: &osr, CPUs: cpus, MemoryMiB: mem,
			Profile: []string{ProfileGeneric, ProfileVSphere, ProfileVirtualBox}[profile%3]}
		if efi {
			o.Firmware = "efi"
		}
		if err := o.defaults(); err != nil {
			return
		}
		base := fileBase(o.Name)
		if base == "" || len(base) > 80 || strings.ContainsAny(base, "/\\\x00") {
			t.Fatalf("file base %q", base)
		}
		dd := descData{Name: o.Name, DiskFile: base + "-disk1.vmdk", DiskID: "vmdisk1",
			Capacity: 1 << 30, CPUs: o.CPUs, MemoryMiB: o.MemoryMiB, OS: lookupGuest(osr), EFI: efi,
			Controller: controllers["sata"], VMUUID: uuid4(), DiskUUID: uuid4()}
		descProfile(&dd, &o)
		d, slot, err := descriptor(dd)
		if err != nil {
			t.Fatal(err)
		}
		if err := patchSize(d, slot, 123456789); err != nil {
			t.Fatal(err)
		}
		env, err := ovf.Unmarshal(bytes.NewReader(d))
		if err != nil {
			t.Fatalf("descriptor does not parse: %v\n%s", err, d)
		}
		if env.References[0].Size != 123456789 || env.VirtualSystem == nil || env.VirtualSystem.Name == nil {
			t.Fatalf("parsed %+v", env)
		}
		if want := strings.ToValidUTF8(o.Name, "\uFFFD"); !strings.ContainsRune(want, '\uFFFD') && !hasControl(want) && *env.VirtualSystem.Name != want {
			t.Fatalf("name %q parsed back as %q", want, *env.VirtualSystem.Name)
		}
	})
}

// FuzzManifest: whatever a manifest holds, parseManifest neither panics nor accepts a line
// that does not name a member with a digest of its algorithm's length.
//
//	go test -fuzz FuzzManifest ./internal/ova/
func FuzzManifest(f *testing.F) {
	f.Add([]byte("SHA256(vm.ovf)= " + strings.Repeat("ab", 32) + "\nSHA1(vm-disk1.vmdk)= " + strings.Repeat("0", 40) + "\n"))
	f.Add([]byte("SHA512 (vm.ovf) = " + strings.Repeat("F", 128) + "\r\n"))
	f.Add([]byte("MD5(vm.ovf)= 00\nSHA1(x)=\n()=\n"))
	members := map[string]ArchiveMember{"vm.ovf": {}, "vm-disk1.vmdk": {}, "vm.mf": {}}
	f.Fuzz(func(t *testing.T, b []byte) {
		ds, err := parseManifest("vm.mf", b, members)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, d := range ds {
			if _, ok := members[d.File]; !ok || seen[d.File] || len(d.Hex) != digestLen[d.Algorithm] || newHash(d.Algorithm) == nil {
				t.Fatalf("accepted %+v from %q", d, b)
			}
			seen[d.File] = true
		}
	})
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0xfffe && r <= 0xffff) || r == '\r' {
			return true
		}
	}
	return false
}
