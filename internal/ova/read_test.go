package ova

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
)

// readBack writes img to a raw file for qemu-img to compare.
func readBack(t *testing.T, img diskimage.Image, out string) {
	t.Helper()
	if err := diskimage.Convert(context.Background(), img, out, "raw", diskimage.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestReadOwnOVA: an OVA written by Write is refused by diskimage.Open as an OVA, and its
// disk, read in place through Open/OpenDisk, equals what GNU tar extracts (checked by
// qemu-img reading the extracted VMDK) and the source disk.
func TestReadOwnOVA(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Fatal("qemu-img missing (apt-get install qemu-utils)")
	}
	dir := t.TempDir()
	const size = 40<<20 + 512
	src := filepath.Join(dir, "src.raw")
	makeRaw(t, src, size)
	out := filepath.Join(dir, "app.ova")
	res := writeOVA(t, src, out, Options{Name: "app"})

	_, err := diskimage.Open(out)
	if !errors.Is(err, diskimage.ErrContainer) || !strings.Contains(err.Error(), out) {
		t.Fatalf("diskimage.Open(ova) = %v, want ErrContainer naming the file", err)
	}

	a, err := Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.Descriptor != "app.ovf" || len(a.Members) != 3 {
		t.Fatalf("archive: descriptor %q, members %+v", a.Descriptor, a.Members)
	}
	for i, m := range res.Members {
		if a.Members[i].Name != m.Name || a.Members[i].Size != m.Size {
			t.Errorf("member %d: read %+v, written %+v", i, a.Members[i], m)
		}
	}
	d, err := a.Disk()
	if err != nil {
		t.Fatal(err)
	}
	if d.File != "app-disk1.vmdk" || d.ID != "vmdisk1" || d.Format != "vmdk" || d.Capacity != size ||
		!strings.Contains(d.FormatURI, "streamOptimized") {
		t.Fatalf("disk: %+v", d)
	}
	// The member's bytes are those tar extracts.
	run(t, "tar", "-xf", out, "-C", dir, d.File)
	want, err := os.ReadFile(filepath.Join(dir, d.File))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(a.Member(d))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("member bytes differ from tar's extraction (%d vs %d bytes)", len(got), len(want))
	}
	img, err := a.OpenDisk(d)
	if err != nil {
		t.Fatal(err)
	}
	if img.Format() != "vmdk" || img.Size() != size {
		t.Fatalf("disk image: %s, %d bytes", img.Format(), img.Size())
	}
	back := filepath.Join(dir, "back.raw")
	readBack(t, img, back)
	img.Close()
	run(t, "qemu-img", "compare", "-f", "raw", "-F", "vmdk", back, filepath.Join(dir, d.File))
	run(t, "qemu-img", "compare", "-f", "raw", "-F", "raw", back, src)

	// OpenImage: the only disk, closed with the archive.
	img2, d2, err := OpenImage(out)
	if err != nil {
		t.Fatal(err)
	}
	if d2.File != d.File || img2.Size() != size {
		t.Errorf("OpenImage: %+v, %d bytes", d2, img2.Size())
	}
	if err := img2.Close(); err != nil {
		t.Error(err)
	}
}

const foreignOVF = `<?xml version="1.0"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/2" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/2">
  <References>
%s  </References>
  <DiskSection>
    <Info>disks</Info>
%s  </DiskSection>
  <VirtualSystem ovf:id="vm"><Info>vm</Info></VirtualSystem>
</Envelope>
`

// foreignOVA makes an OVA with GNU tar around VMDKs made by qemu-img, one per size (MiB).
func foreignOVA(t *testing.T, dir, name string, sizesMiB ...int) string {
	t.Helper()
	var refs, disks strings.Builder
	files := []string{name + ".ovf"}
	for i, mib := range sizesMiB {
		raw := filepath.Join(dir, fmt.Sprintf("%s-%d.raw", name, i))
		makeRaw(t, raw, int64(mib)<<20)
		vmdk := fmt.Sprintf("%s-disk%d.vmdk", name, i+1)
		run(t, "qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, filepath.Join(dir, vmdk))
		fmt.Fprintf(&refs, "    <File ovf:id=\"f%d\" ovf:href=\"%s\"/>\n", i, vmdk)
		fmt.Fprintf(&disks, "    <Disk ovf:diskId=\"d%d\" ovf:fileRef=\"f%d\" ovf:capacity=\"%d\" ovf:capacityAllocationUnits=\"byte * 2^20\" ovf:format=\"http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized\"/>\n", i, i, mib)
		files = append(files, vmdk)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".ovf"), []byte(fmt.Sprintf(foreignOVF, refs.String(), disks.String())), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name+".ova")
	run(t, "tar", append([]string{"--format=ustar", "-C", dir, "-cf", out}, files...)...)
	return out
}

// TestReadForeignOVA: an OVA made by GNU tar (OVF 2.0 namespace, capacity in MiB) around a
// qemu-img VMDK reads the same; a two-disk appliance is refused naming both disks; a tar
// whose first member is not a descriptor is no OVA.
func TestReadForeignOVA(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Fatal("qemu-img missing (apt-get install qemu-utils)")
	}
	dir := t.TempDir()
	one := foreignOVA(t, dir, "one", 24)
	img, d, err := OpenImage(one)
	if err != nil {
		t.Fatal(err)
	}
	if d.Capacity != 24<<20 || img.Size() != 24<<20 || d.Format != "vmdk" {
		t.Fatalf("disk %+v, image %d bytes", d, img.Size())
	}
	back := filepath.Join(dir, "back.raw")
	readBack(t, img, back)
	img.Close()
	run(t, "qemu-img", "compare", "-f", "raw", "-F", "raw", back, filepath.Join(dir, "one-0.raw"))

	two := foreignOVA(t, dir, "two", 8, 16)
	a, err := Open(two)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Disks) != 2 || a.Disks[1].File != "two-disk2.vmdk" || a.Disks[1].Capacity != 16<<20 {
		t.Fatalf("disks: %+v", a.Disks)
	}
	a.Close()
	if _, _, err := OpenImage(two); err == nil || !strings.Contains(err.Error(), "two-disk1.vmdk") || !strings.Contains(err.Error(), "two-disk2.vmdk") {
		t.Errorf("two-disk OpenImage: %v", err)
	}

	// The descriptor not first: a plain tar, read as raw as before, and no OVA for Open.
	plain := filepath.Join(dir, "plain.tar")
	run(t, "tar", "--format=ustar", "-C", dir, "-cf", plain, "one-disk1.vmdk", "one.ovf")
	if _, err := Open(plain); !errors.Is(err, ErrNotOVA) {
		t.Errorf("Open(plain tar) = %v, want ErrNotOVA", err)
	}
	if img, err := diskimage.Open(plain); err != nil || img.Format() != "raw" {
		t.Errorf("diskimage.Open(plain tar) = %v", err)
	} else {
		img.Close()
	}

	// A descriptor naming a member the archive lacks.
	os.WriteFile(filepath.Join(dir, "bad.ovf"), []byte(fmt.Sprintf(foreignOVF,
		`<File ovf:id="f0" ovf:href="gone.vmdk"/>`, `<Disk ovf:diskId="d0" ovf:fileRef="f0" ovf:capacity="1"/>`)), 0o644)
	bad := filepath.Join(dir, "bad.ova")
	run(t, "tar", "--format=ustar", "-C", dir, "-cf", bad, "bad.ovf")
	if _, err := Open(bad); err == nil || !strings.Contains(err.Error(), "gone.vmdk") {
		t.Errorf("Open(missing disk member) = %v", err)
	}
}
