package main

import (
	"bytes"
	"encoding/json"
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

// TestAccConvertBootable: convert --bootable --bootloader extlinux turns a Eucalyptus-shaped image (a bare ext4
// filesystem, kernel and ramdisk outside) into a qcow2 that qemu-img check accepts, holding
// an MBR with syslinux's boot code, one active partition, extlinux.conf and fstab naming the
// root by UUID; no temporary disk, loop or mount is left. With CHROMOGENIC_BOOT_ALL=1 the
// result is booted to the sample's marker (one TCG boot).
func TestAccConvertBootable(t *testing.T) {
	testtier.Acceptance(t, "minutes of CPU (initramfs rebuild in the sandbox)")
	dir := t.TempDir()
	img, kernel, ramdisk := testimages.Eucalyptus(t, dir)
	outDir := filepath.Join(dir, "out")
	if err := os.Mkdir(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(outDir, "bootable.qcow2")
	start := time.Now()
	_, stderr := cli(t, 0, "convert", img, out, "-O", "qcow2", "--bootable", "--firmware", "bios", "--bootloader", "extlinux",
		"--kernel", kernel, "--ramdisk", ramdisk, "--extra-size", "64M")
	t.Logf("convert --bootable took %s", time.Since(start).Round(time.Second))
	if !strings.Contains(stderr, "Bootable disk ready: dos table") || !strings.Contains(stderr, ", extlinux; root UUID") {
		t.Errorf("stderr:\n%s", stderr)
	}
	qemuImg(t, "check", "-f", "qcow2", out)
	if ents, _ := os.ReadDir(outDir); len(ents) != 2 || ents[0].Name() != "bootable.qcow2" || ents[1].Name() != "bootable.qcow2"+provenance.Suffix {
		t.Errorf("output directory holds %v; want only the qcow2 and its provenance record", ents)
	}
	// The record names the qcow2 by its SHA-256 and says how it boots.
	rec, err := provenance.Read(provenance.SidecarPath(out))
	if err != nil {
		t.Fatal(err)
	}
	sum, _, err := provenance.FileSHA256(out)
	if err != nil || len(rec.Outputs) != 1 || rec.Outputs[0].SHA256 != sum || rec.Boot == nil || rec.Boot.Firmware != "bios" || !strings.Contains(rec.Boot.Bootloader, "extlinux") {
		t.Errorf("the record's outputs %+v and boot %+v; the qcow2's SHA-256 %s %v", rec.Outputs, rec.Boot, sum, err)
	}
	if o, _ := exec.Command("losetup", "-j", img).Output(); len(bytes.TrimSpace(o)) > 0 {
		t.Errorf("loop devices left on the source: %s", o)
	}
	mounts, _ := os.ReadFile("/proc/self/mounts")
	if bytes.Contains(mounts, []byte(dir)) {
		t.Errorf("mounts left under %s", dir)
	}

	raw := filepath.Join(dir, "check.raw")
	qemuImg(t, "convert", "-f", "qcow2", "-O", "raw", out, raw)
	o, err := exec.Command("sfdisk", "--json", raw).Output()
	if err != nil {
		t.Fatalf("sfdisk --json: %v", err)
	}
	var table struct {
		PartitionTable struct {
			Label      string `json:"label"`
			Partitions []struct {
				Bootable bool `json:"bootable"`
			} `json:"partitions"`
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal(o, &table); err != nil {
		t.Fatalf("%v\n%s", err, o)
	}
	if pt := table.PartitionTable; pt.Label != "dos" || len(pt.Partitions) != 1 || !pt.Partitions[0].Bootable {
		t.Errorf("partition table %s", o)
	}
	mbr, err := os.ReadFile("/usr/lib/syslinux/mbr/mbr.bin")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, len(mbr))
	_, err = f.ReadAt(head, 0)
	f.Close()
	if err != nil || !bytes.Equal(head, mbr) {
		t.Errorf("the MBR does not hold syslinux's boot code (%v)", err)
	}
	files := packertest.GuestFiles(t, raw, "/boot/extlinux/extlinux.conf", "/etc/fstab")
	conf, fstab := string(files["/boot/extlinux/extlinux.conf"]), string(files["/etc/fstab"])
	if !strings.Contains(conf, "root=UUID=") || !strings.Contains(conf, "console=ttyS0") {
		t.Errorf("extlinux.conf:\n%s", conf)
	}
	if !strings.Contains(fstab, "UUID=") {
		t.Errorf("fstab:\n%s", fstab)
	}
	if os.Getenv("CHROMOGENIC_BOOT_ALL") == "1" {
		testimages.Boot(t, out, "qcow2", 6*time.Minute)
	}
}
