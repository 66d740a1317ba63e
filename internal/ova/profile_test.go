package ova

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmware/govmomi/ovf"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage/vmdktest"
)

// TestProfiles writes each profile and checks what its consumer reads: govmomi (vSphere's
// own OVF types) converts the vsphere descriptor to a config spec with the firmware and
// guest; the virtualbox descriptor carries only Items VirtualBox's reader knows (or
// optional ones) and no VMware element; both are well-formed XML for xmllint, parse back
// through Open, verify against their manifest, and hold a disk qemu-img and OpenStack's
// inspector read as the source.
func TestProfiles(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Fatal("qemu-img missing (apt-get install qemu-utils)")
	}
	dir := t.TempDir()
	const size = 24<<20 + 512
	src := filepath.Join(dir, "src.raw")
	makeRaw(t, src, size)
	debian := &OSRelease{ID: "debian", VersionID: "12", Name: "Debian GNU/Linux 12 (bookworm)"}
	cases := []struct {
		name       string
		o          Options
		systemType string
		ctl        string // ResourceSubType of the controller
		ctlRT      int
		alg        string
	}{
		{"vsphere-default", Options{Profile: "vsphere"}, "vmx-14", "vmware.sata.ahci", 20, "SHA256"},
		{"vsphere-17-pvscsi-efi-sha1", Options{Profile: "vSphere", HardwareVersion: 17, Controller: "pvscsi", Firmware: "efi", Hash: "sha1", OS: debian}, "vmx-17", "VirtualSCSI", 6, "SHA1"},
		{"vsphere-7-scsi", Options{Profile: "vsphere", HardwareVersion: 7, Controller: "scsi"}, "vmx-07", "lsilogic", 6, "SHA256"},
		{"virtualbox-bios", Options{Profile: "virtualbox", OS: debian}, "virtualbox-2.2", "AHCI", 20, "SHA256"},
		{"virtualbox-efi-sha1", Options{Profile: "virtualbox", Firmware: "efi", Hash: "sha1"}, "virtualbox-2.2", "AHCI", 20, "SHA1"},
		{"virtualbox-ide-sha512", Options{Profile: "virtualbox", Controller: "ide", Hash: "sha512"}, "virtualbox-2.2", "PIIX4", 5, "SHA512"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, c.name+".ova")
			res := writeOVA(t, src, out, c.o)
			_, data, _ := members(t, out)
			desc := data[res.Members[0].Name]
			if _, err := exec.LookPath("xmllint"); err == nil {
				p := filepath.Join(t.TempDir(), "d.ovf")
				os.WriteFile(p, desc, 0o644)
				run(t, "xmllint", "--noout", p)
			}
			vsphere := strings.HasPrefix(c.name, "vsphere")
			if vsphere && (bytes.Contains(desc, []byte("vbox")) || !bytes.Contains(desc, []byte("<vmw:Config"))) {
				t.Errorf("vsphere descriptor carries VirtualBox elements or lacks vmw:Config:\n%s", desc)
			}
			if !vsphere && bytes.Contains(desc, []byte("vmw:")) {
				t.Errorf("virtualbox descriptor carries VMware elements:\n%s", desc)
			}
			efi := c.o.Firmware == "efi"
			if !vsphere && efi != bytes.Contains(desc, []byte("<vbox:Machine")) {
				t.Errorf("vbox:Machine present = %v, want %v (EFI only)", !efi, efi)
			}
			env, err := ovf.Unmarshal(bytes.NewReader(desc))
			if err != nil {
				t.Fatalf("govmomi ovf: %v\n%s", err, desc)
			}
			hw := env.VirtualSystem.VirtualHardware[0]
			if hw.System == nil || hw.System.VirtualSystemType == nil || *hw.System.VirtualSystemType != c.systemType {
				t.Errorf("VirtualSystemType %+v, want %s", hw.System, c.systemType)
			}
			found := false
			for _, it := range hw.Item {
				rt := int(*it.ResourceType)
				if !vsphere && !vboxKnownTypes[rt] && (it.Required == nil || *it.Required) {
					t.Errorf("item type %d is not ovf:required=\"false\": VirtualBox would refuse it", rt)
				}
				if rt == c.ctlRT && it.ResourceSubType != nil && *it.ResourceSubType == c.ctl {
					found = true
				}
			}
			if !found {
				t.Errorf("no controller item of type %d subtype %s:\n%s", c.ctlRT, c.ctl, desc)
			}
			if vsphere {
				spec, err := env.ToConfigSpec()
				if err != nil {
					t.Fatalf("govmomi ToConfigSpec: %v", err)
				}
				wantFW := "bios"
				if efi {
					wantFW = "efi"
				}
				if spec.Firmware != wantFW || spec.Version != c.systemType {
					t.Errorf("config spec firmware %q version %q, want %s %s", spec.Firmware, spec.Version, wantFW, c.systemType)
				}
			}
			if !strings.HasPrefix(string(data[res.Members[2].Name]), c.alg+"(") {
				t.Errorf("manifest %q, want %s lines", data[res.Members[2].Name], c.alg)
			}

			a, err := Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if a.Manifest != res.Members[2].Name || len(a.Digests) != 2 || a.Digests[1].File != res.Members[1].Name ||
				a.Digests[1].Hex != res.Members[1].Digest || a.Digests[1].Algorithm != strings.ToLower(c.alg) {
				t.Errorf("manifest read back: %s %+v", a.Manifest, a.Digests)
			}
			if err := a.Verify(context.Background()); err != nil {
				t.Error(err)
			}
			d, err := a.Disk()
			if err != nil {
				t.Fatal(err)
			}
			if d.Format != "vmdk" || d.Capacity != size {
				t.Errorf("disk %+v", d)
			}
			vmdk := filepath.Join(t.TempDir(), "disk.vmdk")
			os.WriteFile(vmdk, data[res.Members[1].Name], 0o644)
			run(t, "qemu-img", "compare", "-f", "raw", "-F", "vmdk", src, vmdk)
			vmdktest.Require(t, vmdk, "vmdk", size)
		})
	}
}

// TestVerifyManifest: Verify finds a changed byte in the disk member and a manifest digest
// that does not match; Open refuses a manifest it cannot read (bad line, unknown algorithm,
// wrong digest length, a file the archive lacks, a file twice), naming the manifest.
func TestVerifyManifest(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	makeRaw(t, src, 8<<20)
	good := filepath.Join(dir, "good.ova")
	res := writeOVA(t, src, good, Options{Name: "vm", Profile: "vsphere", Hash: "sha1"})
	orig, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Open(good)
	if err != nil {
		t.Fatal(err)
	}
	diskOff := a.Disks[0].Offset
	var mfOff int64
	for _, m := range a.Members {
		if m.Name == "vm.mf" {
			mfOff = m.Offset
		}
	}
	a.Close()
	mf := string(orig[mfOff : mfOff+res.Members[2].Size])

	variant := func(name string, edit func(b []byte) []byte) string {
		b := edit(bytes.Clone(orig))
		p := filepath.Join(dir, name+".ova")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The manifest keeps its size: each edit replaces text with text of the same length.
	withManifest := func(name, newMF string) string {
		if len(newMF) != len(mf) {
			t.Fatalf("%s: manifest edit changes its length", name)
		}
		return variant(name, func(b []byte) []byte { copy(b[mfOff:], newMF); return b })
	}

	// A byte of the disk member changed: Open still works, Verify fails.
	flipped := variant("flipped", func(b []byte) []byte { b[diskOff+100] ^= 0xff; return b })
	a, err = Open(flipped)
	if err != nil {
		t.Fatal(err)
	}
	err = a.Verify(context.Background())
	a.Close()
	if err == nil || !strings.Contains(err.Error(), "vm-disk1.vmdk does not match its manifest vm.mf") {
		t.Errorf("Verify of a changed disk: %v", err)
	}

	diskSum := res.Members[1].Digest
	wrong := hex.EncodeToString(make([]byte, 20))
	a, err = Open(withManifest("wrongsum", strings.Replace(mf, diskSum, wrong, 1)))
	if err != nil {
		t.Fatal(err)
	}
	err = a.Verify(context.Background())
	a.Close()
	if err == nil || !strings.Contains(err.Error(), "manifest says "+wrong) {
		t.Errorf("Verify against a wrong digest: %v", err)
	}

	for _, c := range []struct{ name, mf, want string }{
		{"garbage", strings.Replace(mf, "SHA1(vm.ovf)=", "SHA1 vm.ovf :", 1), "vm.mf line 1: not ALGORITHM(file)= digest"},
		{"md5", strings.Replace(mf, "SHA1(vm.ovf)= ", "MD5(vm.ovf)=  ", 1), "digest algorithm MD5 is not supported"},
		{"short", strings.Replace(mf, diskSum, diskSum[:38]+"  ", 1), "has 38 hex digits, not 40"},
		{"absent", strings.Replace(mf, "vm-disk1.vmdk", "vm-disk9.vmdk", 1), "vm-disk9.vmdk is not in the archive"},
		{"twice", strings.Replace(mf, "vm-disk1.vmdk)= "+diskSum, "vm.ovf)= "+res.Members[0].Digest+"       ", 1), "vm.ovf is listed twice"},
	} {
		p := withManifest(c.name, c.mf)
		if a, err := Open(p); err == nil {
			a.Close()
			t.Errorf("%s: manifest %q accepted", c.name, c.mf)
		} else if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want %q naming the file", c.name, err, c.want)
		}
	}

	// Each digest algorithm verifies.
	for _, h := range []string{"sha256", "sha512"} {
		p := filepath.Join(dir, h+".ova")
		writeOVA(t, src, p, Options{Name: "vm", Hash: h})
		a, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Verify(context.Background()); err != nil || len(a.Digests) != 2 || a.Digests[0].Algorithm != h {
			t.Errorf("%s: %v %+v", h, err, a.Digests)
		}
		a.Close()
	}
}

// TestGDAtEndInputPacked: a VMDK from elsewhere whose header says GD_AT_END (VMware's
// stream layout; OpenStack's inspector takes it for raw) goes into an OVA re-encoded: the
// member's header carries the real grain directory offset, the inspector accepts it, and
// it holds the source.
func TestGDAtEndInputPacked(t *testing.T) {
	dir := t.TempDir()
	const size = 12<<20 + 512
	src := filepath.Join(dir, "src.raw")
	makeRaw(t, src, size)
	in := filepath.Join(dir, "in.vmdk")
	// Our writer's stream with the header's offset taken out: the layout VMware writes (the
	// offset in the footer only). qemu-img's own stream has no footer to fall back on.
	img, err := diskimage.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	err = diskimage.Convert(context.Background(), img, in, "vmdk", diskimage.WriteOptions{})
	img.Close()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint64(b[56:], ^uint64(0))
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if !diskimage.VMDKGDAtEnd(b) {
		t.Fatal("the input's header does not say GD_AT_END")
	}
	run(t, "qemu-img", "compare", "-f", "raw", "-F", "vmdk", src, in)
	if r := vmdktest.Inspect(t, in); r.Format != "raw" {
		t.Fatalf("the GD_AT_END input is %+v for the inspector, want raw (the test's premise)", r)
	}
	out := filepath.Join(dir, "vm.ova")
	res := writeOVA(t, in, out, Options{Name: "vm", Profile: "vsphere"})
	_, data, _ := members(t, out)
	disk := data[res.Members[1].Name]
	if diskimage.VMDKGDAtEnd(disk) {
		t.Error("the OVA's VMDK header says GD_AT_END")
	}
	vmdk := filepath.Join(dir, "member.vmdk")
	os.WriteFile(vmdk, disk, 0o644)
	vmdktest.Require(t, vmdk, "vmdk", size)
	run(t, "qemu-img", "check", "-f", "vmdk", vmdk)
	run(t, "qemu-img", "compare", "-f", "raw", "-F", "vmdk", src, vmdk)
}
