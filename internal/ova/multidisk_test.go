package ova

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmware/govmomi/ovf"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
)

// An appliance of two disks (ExtraDisks): members ovf, disk1, disk2, mf; the descriptor
// declares both (govmomi parses it) on the one controller at units 0 and 1; the manifest
// verifies (Archive.Verify); each disk member passes qemu-img check and equals its source;
// VirtualBox's EFI machine section attaches both; IDE takes two disks and refuses three.
func TestOVASeveralDisks(t *testing.T) {
	dir := t.TempDir()
	const size1, size2 = 24<<20 + 512, 8 << 20
	src1, src2 := filepath.Join(dir, "a.raw"), filepath.Join(dir, "b.raw")
	makeRaw(t, src1, size1)
	makeRaw(t, src2, size2)
	open := func(p string) diskimage.Image {
		img, err := diskimage.OpenFormat(p, "raw")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { img.Close() })
		return img
	}
	for _, c := range []struct{ name, controller, firmware string }{{"sata-efi", "sata", "efi"}, {"ide", "ide", ""}} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, c.name+".ova")
			f, err := os.Create(out)
			if err != nil {
				t.Fatal(err)
			}
			var last int64
			_, err = Write(context.Background(), f, open(src1), Options{Name: "two", Controller: c.controller, Firmware: c.firmware,
				ExtraDisks: []diskimage.Image{open(src2)}, Progress: func(done, total int64) {
					if total != size1+size2 || done < last {
						t.Errorf("progress %d of %d after %d", done, total, last)
					}
					last = done
				}})
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			if last != size1+size2 {
				t.Errorf("progress ended at %d, want %d", last, size1+size2)
			}
			names, data, _ := members(t, out)
			want := []string{"two.ovf", "two-disk1.vmdk", "two-disk2.vmdk", "two.mf"}
			if strings.Join(names, " ") != strings.Join(want, " ") {
				t.Fatalf("members %v, want %v", names, want)
			}
			env, err := ovf.Unmarshal(bytes.NewReader(data["two.ovf"]))
			if err != nil {
				t.Fatalf("govmomi ovf: %v\n%s", err, data["two.ovf"])
			}
			if len(env.References) != 2 || env.Disk == nil || len(env.Disk.Disks) != 2 {
				t.Fatalf("references %+v, disks %+v", env.References, env.Disk)
			}
			for i, r := range env.References {
				if r.Href != want[1+i] || int64(r.Size) != int64(len(data[want[1+i]])) {
					t.Errorf("reference %d: %+v (member is %d bytes)", i, r, len(data[want[1+i]]))
				}
			}
			if env.Disk.Disks[1].Capacity != fmt.Sprint(size2) || env.Disk.Disks[1].FileRef == nil || *env.Disk.Disks[1].FileRef != "file2" {
				t.Errorf("second disk %+v", env.Disk.Disks[1])
			}
			units := map[string]string{}
			for _, it := range env.VirtualSystem.VirtualHardware[0].Item {
				if it.ResourceType != nil && *it.ResourceType == 17 {
					if it.Parent == nil || *it.Parent != "3" || it.AddressOnParent == nil {
						t.Errorf("disk item %+v", it)
						continue
					}
					units[*it.AddressOnParent] = it.HostResource[0]
				}
			}
			if units["0"] != "ovf:/disk/vmdisk1" || units["1"] != "ovf:/disk/vmdisk2" || len(units) != 2 {
				t.Errorf("disk units %v", units)
			}
			if _, err := env.ToConfigSpec(); err != nil {
				t.Errorf("govmomi ToConfigSpec: %v", err)
			}
			if c.firmware == "efi" && !bytes.Contains(data["two.ovf"], []byte(`port="1" device="0"`)) {
				t.Errorf("vbox:Machine attaches no second disk at port 1:\n%s", data["two.ovf"])
			}
			a, err := Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if len(a.Disks) != 2 || a.Disks[0].File != want[1] || a.Disks[1].File != want[2] || a.Disks[1].Capacity != size2 {
				t.Fatalf("read back: disks %+v", a.Disks)
			}
			if err := a.Verify(context.Background()); err != nil {
				t.Fatalf("manifest: %v", err)
			}
			for i, src := range []string{src1, src2} {
				vmdk := filepath.Join(t.TempDir(), want[1+i])
				if err := os.WriteFile(vmdk, data[want[1+i]], 0o644); err != nil {
					t.Fatal(err)
				}
				run(t, "qemu-img", "check", "-f", "vmdk", vmdk)
				run(t, "qemu-img", "compare", "-f", "raw", "-F", "vmdk", src, vmdk)
			}
		})
	}
	f, err := os.Create(filepath.Join(dir, "three.ova"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = Write(context.Background(), f, open(src1), Options{Controller: "ide", ExtraDisks: []diskimage.Image{open(src2), open(src2)}})
	if err == nil || !strings.Contains(err.Error(), "ide") {
		t.Fatalf("three disks on IDE: %v, want a refusal naming ide", err)
	}
}
