package testimages

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

// Eucalyptus makes a Eucalyptus-shaped image in dir from the sample (test/images/eucalyptus.sh):
// a bare ext4 filesystem (no partition table) holding the sample's Debian tree with nothing
// in /boot and the fstab root named /dev/sda1, plus its kernel and initramfs as separate files
// (as eki/eri). The files belong to the caller.
func Eucalyptus(t testing.TB, dir string) (image, kernel, ramdisk string) {
	t.Helper()
	sample := Sample(t)
	start := time.Now()
	image, err := run(10*time.Minute, script(t, "test/images/eucalyptus.sh"), sample, dir)
	if err != nil {
		t.Fatalf("testimages: eucalyptus image: %v", err)
	}
	t.Logf("testimages: Eucalyptus-shaped image made in %s", time.Since(start).Round(time.Millisecond))
	return image, filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "initrd.img")
}

// BootOptions choose the virtual machine BootWith starts.
type BootOptions struct {
	// Firmware: "bios" (SeaBIOS, the default) or "efi" (OVMF from the ovmf package).
	Firmware string
	// Disk is how the disk is attached: "virtio" (default), "sata" (AHCI, as VirtualBox
	// and VMware attach an OVA's disk) or "ide".
	Disk string
	// Memory in MiB (default 1024).
	Memory int
	// SerialLog, when set, is where the serial console is logged (kept for the test to
	// read); default: a file in a temporary directory.
	SerialLog string
}

// OVMF firmware files of Debian's ovmf package.
const (
	ovmfCode = "/usr/share/OVMF/OVMF_CODE.fd"
	ovmfVars = "/usr/share/OVMF/OVMF_VARS.fd"
)

// BootWith boots image (qemu format) under qemu TCG with -snapshot, on the firmware and disk
// bus of o, and fails the test unless the guest prints CHROMOGENIC-BOOT-OK on its serial
// console within timeout. It returns the seconds the boot took. Boot (test/images/boot.sh)
// covers the default SeaBIOS + virtio case; this one adds OVMF and other disk buses.
func BootWith(t testing.TB, image, format string, timeout time.Duration, o BootOptions) float64 {
	t.Helper()
	took, _ := BootDisks(t, []BootDisk{{Path: image, Format: format}}, timeout, o)
	return took
}

// BootDisk is one disk of the virtual machine BootDisks starts: a file and its qemu format
// (raw, qcow2, vmdk...).
type BootDisk struct {
	Path, Format string
}

// BootDisks boots a virtual machine of several disks as BootWith boots one: disks[0] is the
// boot disk, and each disk is its own drive on o.Disk's bus, in order (virtio: vda, vdb...;
// sata: one AHCI port each; ide: one unit each, four at most), all with -snapshot. It fails
// the test unless the guest prints CHROMOGENIC-BOOT-OK on its serial console within timeout,
// and returns the seconds the boot took and the serial console's output up to the marker
// (what the guest printed before it, whole lines, for a test to check).
func BootDisks(t testing.TB, disks []BootDisk, timeout time.Duration, o BootOptions) (took float64, serial string) {
	t.Helper()
	testtier.Acceptance(t, "a qemu boot")
	if len(disks) == 0 {
		t.Fatal("testimages: BootDisks needs a disk")
	}
	timeout = bootTimeout(timeout)
	if o.Memory == 0 {
		o.Memory = 1024
	}
	dir := t.TempDir()
	serialLog := filepath.Join(dir, "serial.log")
	if o.SerialLog != "" {
		serialLog = o.SerialLog
	}
	args := []string{"-accel", "tcg", "-m", fmt.Sprint(o.Memory), "-display", "none", "-monitor", "none",
		"-nic", "none", "-no-reboot", "-snapshot", "-serial", "file:" + serialLog}
	switch o.Firmware {
	case "", "bios":
	case "efi":
		vars := filepath.Join(dir, "OVMF_VARS.fd")
		b, err := os.ReadFile(ovmfVars)
		if err != nil {
			t.Fatalf("testimages: OVMF (apt-get install ovmf): %v", err)
		}
		if err := os.WriteFile(vars, b, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+ovmfCode,
			"-drive", "if=pflash,format=raw,unit=1,file="+vars)
	default:
		t.Fatalf("testimages: firmware %q", o.Firmware)
	}
	drives, err := driveArgs(disks, o.Disk)
	if err != nil {
		t.Fatalf("testimages: %v", err)
	}
	args = append(args, drives...)
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Fatalf("testimages: qemu-system-x86_64 missing (apt-get install qemu-system-x86)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.Command("qemu-system-x86_64", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var qout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &qout, &qout
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("testimages: start qemu: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		select {
		case <-done:
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}()
	what := filepath.Base(disks[0].Path)
	if len(disks) > 1 {
		what = fmt.Sprintf("%s and %d more disks", what, len(disks)-1)
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		log, _ := os.ReadFile(serialLog)
		if i := bytes.Index(log, []byte(bootMarker)); i >= 0 {
			took := time.Since(start).Seconds()
			t.Logf("testimages: %s (%s, firmware %s, disk %s) booted to the marker in %.1f s",
				what, disks[0].Format, or(o.Firmware, "bios"), or(o.Disk, "virtio"), took)
			return took, string(log[:i])
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("testimages: qemu exited before the boot marker (%v)\n--- qemu ---\n%s\n--- serial ---\n%s",
				err, qout.String(), tail(string(log), 40))
		case <-ctx.Done():
			t.Fatalf("testimages: no boot marker from %s within %s\n--- serial ---\n%s", what, timeout, tail(string(log), 40))
		case <-tick.C:
		}
	}
}

// bootMarker is what the test images print on their serial console once booted.
const bootMarker = "CHROMOGENIC-BOOT-OK"

// driveArgs are qemu's arguments attaching disks, in order, each its own drive on bus.
func driveArgs(disks []BootDisk, bus string) ([]string, error) {
	var args []string
	if bus == "sata" {
		args = append(args, "-device", "ahci,id=ahci")
	}
	if bus == "ide" && len(disks) > 4 {
		return nil, fmt.Errorf("%d disks on IDE: at most 4", len(disks))
	}
	if bus == "sata" && len(disks) > 6 {
		return nil, fmt.Errorf("%d disks on one AHCI controller: at most 6", len(disks))
	}
	for i, d := range disks {
		if d.Path == "" || d.Format == "" || strings.ContainsAny(d.Path, ",") {
			return nil, fmt.Errorf("disk %d: path %q, format %q (both needed; no comma in the path)", i+1, d.Path, d.Format)
		}
		drive := "file=" + d.Path + ",format=" + d.Format
		switch bus {
		case "", "virtio":
			args = append(args, "-drive", drive+",if=virtio")
		case "sata":
			id := fmt.Sprintf("disk%d", i)
			args = append(args, "-drive", drive+",if=none,id="+id, "-device", fmt.Sprintf("ide-hd,drive=%s,bus=ahci.%d", id, i))
		case "ide":
			args = append(args, "-drive", fmt.Sprintf("%s,if=ide,index=%d", drive, i))
		default:
			return nil, fmt.Errorf("disk bus %q", bus)
		}
	}
	return args, nil
}

func or(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}
