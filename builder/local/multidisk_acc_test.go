package local

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/ova"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

const multiDiskTemplate = `
variable "disk1" { type = string }
variable "disk2" { type = string }
variable "output_directory" { type = string }
variable "convert_directory" { type = string }
variable "marker" { type = string }

source "chromogenic-local" "multi" {
  source_paths     = [var.disk1, var.disk2]
  output_directory = var.output_directory
  image_name       = "multi.raw"
  mount_path       = "${var.output_directory}/mnt"
}

build {
  sources = ["source.chromogenic-local.multi"]

  provisioner "shell" {
    inline = ["echo ${var.marker} > /srv/marker", "echo DATA=$(cat /srv/disk2.txt)"]
  }

  post-processor "chromogenic-convert" {
    formats             = ["qcow2", "ova"]
    output_directory    = var.convert_directory
    file_name           = "multi"
    keep_input_artifact = true
  }
}
`

// TestAccLocalSeveralDisks is one packer build of the two-disk guest: chromogenic-local with
// source_paths (a working copy per disk, opened together: /srv and /var/lib/data from disk 2,
// the /dev/vdb2 entry with its disk-order warning), a shell provisioner writing /srv/marker,
// and chromogenic-convert to qcow2 (a file per disk) and OVA (one appliance of both disks).
// The marker is on disk 2's working copy; each qcow2 passes qemu-img check and equals its
// working copy; the OVA holds two disks, each passing qemu-img check, and virt-v2v lists
// both; the sources are unchanged and nothing stays attached.
func TestAccLocalSeveralDisks(t *testing.T) {
	testtier.Acceptance(t, "a packer build")
	env := packertest.Setup(t)
	dir := t.TempDir()
	disk1 := testimages.Make(t, "two-disk", dir)
	disk2 := testimages.OtherDisks(disk1)[0]
	before := packertest.FileSHA256(t, disk2)
	out, conv := filepath.Join(dir, "out"), filepath.Join(dir, "conv")
	marker := fmt.Sprintf("marker-%d", time.Now().UnixNano())

	start := time.Now()
	res := env.MustBuild(t, dir, multiDiskTemplate, 15*time.Minute, "-var", "disk1="+disk1, "-var", "disk2="+disk2,
		"-var", "output_directory="+out, "-var", "convert_directory="+conv, "-var", "marker="+marker)
	t.Logf("packer build of two disks: %s", time.Since(start).Round(time.Second))
	if n := strings.Count(res.Output, "Converting disk 2"); n != 1 {
		t.Errorf("disk 2 converted %d times, want once (qcow2; the OVA holds both)", n)
	}
	res.WantOutput(t, "DATA=on the second disk", "/dev/vdb2", "disk order", "The guest has 2 disks")
	work := []string{filepath.Join(out, "multi.raw"), filepath.Join(out, "multi-disk2.raw")}
	for _, w := range work {
		if l := chroot.LoopsBackedBy(w); len(l) > 0 {
			t.Errorf("loops still backed by %s: %v", w, l)
		}
	}
	if m := chroot.MountedUnder(filepath.Join(out, "mnt")); len(m) > 0 {
		t.Errorf("still mounted: %v", m)
	}
	if after := packertest.FileSHA256(t, disk2); after != before {
		t.Errorf("source disk 2 changed")
	}

	// The marker is on disk 2's working copy, seen through the guest's own /srv.
	img, err := chroot.OpenImages(work, chroot.ImageOptions{ReadOnly: true, TempDir: dir, TempPattern: "check-"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := img.Guest.Guest().ReadFileLimit("/srv/marker", 4096)
	srv := img.Guest.Mounts.Root + "/srv"
	var srvDev string
	for _, m := range chroot.MountsUnder(img.MountPath) {
		if m.Point == srv {
			srvDev = m.Source
		}
	}
	wantDev := img.Disk.Others[0].Partition(1).Device
	if cerr := img.Close(); cerr != nil {
		t.Error(cerr)
	}
	if err != nil || string(got) != marker+"\n" || srvDev != wantDev {
		t.Errorf("/srv/marker = %q %v from %s, want %q from disk 2's partition 1 (%s)", got, err, srvDev, marker, wantDev)
	}

	// qcow2: one file per disk, each checked and equal to its working copy.
	for i, q := range []string{filepath.Join(conv, "multi.qcow2"), filepath.Join(conv, "multi-disk2.qcow2")} {
		if b, err := exec.Command("qemu-img", "check", "-f", "qcow2", q).CombinedOutput(); err != nil {
			t.Errorf("qemu-img check %s: %v\n%s", q, err, b)
		}
		if b, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", "qcow2", work[i], q).CombinedOutput(); err != nil {
			t.Errorf("qemu-img compare %s %s: %v\n%s", work[i], q, err, b)
		}
	}

	// OVA: both disks, each a clean VMDK equal to its working copy; virt-v2v lists both.
	appliance := filepath.Join(conv, "multi.ova")
	a, err := ova.Open(appliance)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if len(a.Disks) != 2 {
		t.Fatalf("OVA disks %+v, want 2", a.Disks)
	}
	for i, d := range a.Disks {
		vmdk := filepath.Join(dir, d.File)
		f, err := os.Create(vmdk)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.ReadFrom(a.Member(d)); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if b, err := exec.Command("qemu-img", "check", "-f", "vmdk", vmdk).CombinedOutput(); err != nil {
			t.Errorf("qemu-img check %s: %v\n%s", d.File, err, b)
		}
		if b, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", "vmdk", work[i], vmdk).CombinedOutput(); err != nil {
			t.Errorf("qemu-img compare %s %s: %v\n%s", work[i], d.File, err, b)
		}
		os.Remove(vmdk)
	}
	if _, err := exec.LookPath("virt-v2v"); err != nil {
		t.Fatal("virt-v2v missing (apt-get install virt-v2v)")
	}
	cmd := exec.Command("virt-v2v", "-i", "ova", appliance, "--print-source")
	cmd.Env = append(os.Environ(), "LIBGUESTFS_BACKEND=direct", "LIBGUESTFS_BACKEND_SETTINGS=force_tcg")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("virt-v2v: %v\n%s", err, b)
	}
	// It lists the disks by index and bus: "0 [sata]", "1 [sata]".
	for _, want := range []string{"source name: multi", "\t0 [sata]", "\t1 [sata]"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("virt-v2v --print-source lacks %s:\n%s", want, b)
		}
	}
}
