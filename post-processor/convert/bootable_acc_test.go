package convert

import (
	_ "embed"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

//go:embed test-fixtures/bootable.pkr.hcl
var bootableTemplate string

// TestAccBootableOVA: through the real packer, chromogenic-local takes a Eucalyptus-shaped
// image (bare ext4, kernel and ramdisk outside), a shell provisioner changes it, and
// chromogenic-convert with bootable { firmware = "efi" } writes an OVA and a qcow2 of the
// stand-alone disk. The OVA's descriptor asks for EFI firmware and its VMDK boots under OVMF
// on a SATA (AHCI) controller, as VirtualBox attaches it, to the marker on the serial
// console (one TCG boot); the qcow2 holds the same disk; no temporary disk is left.
func TestAccBootableOVA(t *testing.T) {
	testtier.Acceptance(t, "a packer build and a qemu boot")
	env := packertest.Setup(t)
	dir := t.TempDir()
	img, kernel, ramdisk := testimages.Eucalyptus(t, dir)
	out, conv := filepath.Join(dir, "out"), filepath.Join(dir, "converted")
	start := time.Now()
	res := env.MustBuild(t, dir, bootableTemplate, 20*time.Minute,
		"-var", "source_path="+img, "-var", "output_directory="+out, "-var", "convert_directory="+conv,
		"-var", "kernel="+kernel, "-var", "ramdisk="+ramdisk)
	t.Logf("packer build with a bootable export took %s", time.Since(start).Round(time.Second))
	for _, want := range []string{"stand-alone bootable disk", "Bootable disk ready: gpt table", "grub-efi"} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("packer output lacks %q:\n%s", want, res.Output)
		}
	}
	ents, _ := os.ReadDir(conv)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "euca-bootable.ova euca-bootable.ova.provenance.json euca-bootable.qcow2" {
		t.Errorf("output directory holds %v; want only the OVA, its provenance record and the qcow2 (no temporary disk)", names)
	}
	// The record gives the boot settings of the bootable disk.
	if rec, err := provenance.Read(filepath.Join(conv, "euca-bootable.ova.provenance.json")); err != nil {
		t.Error(err)
	} else if b := rec.Boot; b == nil || b.Firmware != "efi" || !strings.Contains(b.Bootloader, "grub-efi") || b.Kernel == "" || !strings.Contains(b.Cmdline, "root=") {
		t.Errorf("record's boot settings %+v", b)
	}
	qcow := filepath.Join(conv, "euca-bootable.qcow2")
	if o, err := exec.Command("qemu-img", "check", "-f", "qcow2", qcow).CombinedOutput(); err != nil {
		t.Errorf("qemu-img check: %v\n%s", err, o)
	}
	ovaDir := t.TempDir()
	if o, err := exec.Command("tar", "-xf", filepath.Join(conv, "euca-bootable.ova"), "-C", ovaDir).CombinedOutput(); err != nil {
		t.Fatalf("tar -xf: %v %s", err, o)
	}
	ovfs, _ := filepath.Glob(filepath.Join(ovaDir, "*.ovf"))
	vmdks, _ := filepath.Glob(filepath.Join(ovaDir, "*.vmdk"))
	if len(ovfs) != 1 || len(vmdks) != 1 {
		t.Fatalf("OVA members: %v %v", ovfs, vmdks)
	}
	ovf, _ := os.ReadFile(ovfs[0])
	if !strings.Contains(string(ovf), `vmw:value="efi"`) || !strings.Contains(string(ovf), "EFI") {
		t.Errorf("OVF descriptor does not ask for EFI firmware:\n%s", ovf)
	}
	if o, err := exec.Command("qemu-img", "compare", "-f", "qcow2", "-F", "vmdk", qcow, vmdks[0]).CombinedOutput(); err != nil {
		t.Errorf("the qcow2 and the OVA's VMDK differ: %v\n%s", err, o)
	}
	// The disk has a GPT with an ESP, and the provisioned file on the root.
	raw := filepath.Join(dir, "check.raw")
	if o, err := exec.Command("qemu-img", "convert", "-O", "raw", qcow, raw).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v %s", err, o)
	}
	if o, _ := exec.Command("sfdisk", "--json", raw).Output(); !strings.Contains(string(o), "C12A7328-F81F-11D2-BA4B-00A0C93EC93B") {
		t.Errorf("no EFI system partition:\n%s", o)
	}
	files := packertest.GuestFiles(t, raw, "/etc/chromogenic-bootable-marker")
	if string(files["/etc/chromogenic-bootable-marker"]) != "made-bootable-by-chromogenic\n" {
		t.Errorf("provisioned file missing on the bootable disk: %q", files["/etc/chromogenic-bootable-marker"])
	}
	os.Remove(raw)
	testimages.BootWith(t, vmdks[0], "vmdk", 10*time.Minute, testimages.BootOptions{Firmware: "efi", Disk: "sata"})
}
