package ova

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

// TestAccVirtV2VReadsProfiles: virt-v2v (libguestfs; it imports OVAs exported by VMware and
// by VirtualBox) reads each profile's appliance: it checks the manifest, parses the
// descriptor and prints the guest it found (--print-source: no conversion, no appliance
// boot). The firmware, the disk's bus and the NIC must be what we wrote. An appliance whose
// disk no longer matches its manifest is refused by virt-v2v and by Archive.Verify alike.
func TestAccVirtV2VReadsProfiles(t *testing.T) {
	testtier.Acceptance(t, "virt-v2v (scripts/install-deps.sh installs it)")
	if _, err := exec.LookPath("virt-v2v"); err != nil {
		t.Fatal("virt-v2v missing (apt-get install virt-v2v)")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	makeRaw(t, src, 16<<20)
	v2v := func(ova string) (string, error) {
		cmd := exec.Command("virt-v2v", "-i", "ova", ova, "--print-source")
		cmd.Env = append(os.Environ(), "LIBGUESTFS_BACKEND=direct", "LIBGUESTFS_BACKEND_SETTINGS=force_tcg")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, c := range []struct {
		name     string
		o        Options
		firmware string
		bus      string
	}{
		{"generic", Options{}, "bios", "sata"},
		{"vsphere-efi-sha1", Options{Profile: "vsphere", Firmware: "efi", Hash: "sha1"}, "uefi", "sata"},
		{"vsphere-pvscsi", Options{Profile: "vsphere", HardwareVersion: 19, Controller: "pvscsi"}, "bios", "scsi"},
		{"virtualbox", Options{Profile: "virtualbox"}, "bios", "sata"},
		// virt-v2v reads the firmware from VMware's vmw:Config only, as for VirtualBox's own
		// exports: the virtualbox profile's EFI (in vbox:Machine) is not seen.
		{"virtualbox-efi-ide", Options{Profile: "virtualbox", Firmware: "efi", Controller: "ide"}, "bios", "ide"},
		// (virt-v2v 2.2 checks SHA1 and SHA256 manifests; SHA512 lines it skips with a warning.)
		{"generic-efi-scsi", Options{Firmware: "efi", Controller: "scsi"}, "uefi", "scsi"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.o.Name = c.name
			out := filepath.Join(dir, c.name+".ova")
			writeOVA(t, src, out, c.o)
			got, err := v2v(out)
			if err != nil {
				t.Fatalf("virt-v2v refused %s: %v\n%s", out, err, got)
			}
			for _, want := range []string{"source name: " + c.name, "firmware: " + c.firmware, "[" + c.bus + "]", "[e1000]", "nr vCPUs: 1", "memory: 1073741824"} {
				if !strings.Contains(got, want) {
					t.Errorf("virt-v2v --print-source lacks %q:\n%s", want, got)
				}
			}

			// One byte of the disk changed: both readers refuse the appliance.
			a, err := Open(out)
			if err != nil {
				t.Fatal(err)
			}
			off := a.Disks[0].Offset + a.Disks[0].Size/2
			a.Close()
			f, err := os.OpenFile(out, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 1)
			f.ReadAt(b, off)
			b[0] ^= 0x5a
			f.WriteAt(b, off)
			f.Close()
			if got, err := v2v(out); err == nil || !strings.Contains(got, "does not match") {
				t.Errorf("virt-v2v on a changed disk: %v\n%s", err, got)
			}
			a, err = Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if err := a.Verify(context.Background()); err == nil || !strings.Contains(err.Error(), "does not match its manifest") {
				t.Errorf("Verify on a changed disk: %v", err)
			}
		})
	}
}
