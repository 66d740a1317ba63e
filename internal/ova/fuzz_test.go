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
	f.Add("vm", "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n", 2, 2048, true)
	f.Add("a<b>&\"c\"]]>", "ID=\"ubuntu\"\nID_LIKE=debian\nNAME='x&y'\n", 1, 512, false)
	f.Add("\x00\x01\uFFFE", "ID=\x00\nPRETTY_NAME=\"\\\"quoted\\\"\"\n", 0, 0, true)
	f.Fuzz(func(t *testing.T, name, osRelease string, cpus, mem int, efi bool) {
		osr, err := ParseOSRelease(strings.NewReader(osRelease))
		if err != nil {
			return
		}
		o := Options{Name: name, OS: &osr, CPUs: cpus, MemoryMiB: mem}
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
		d, slot, err := descriptor(descData{Name: o.Name, DiskFile: base + "-disk1.vmdk", DiskID: "vmdisk1",
			Capacity: 1 << 30, CPUs: o.CPUs, MemoryMiB: o.MemoryMiB, OS: lookupGuest(osr), EFI: efi,
			Controller: controllers["sata"], VMUUID: uuid4(), DiskUUID: uuid4()})
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

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0xfffe && r <= 0xffff) || r == '\r' {
			return true
		}
	}
	return false
}
