package ova

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/ovf"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage/vmdktest"
)

// makeRaw writes a sparse raw disk of size bytes with random and text data at a few
// offsets.
func makeRaw(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i, off := range []int64{0, 3<<20 + 512, size / 2, size - 70000} {
		b := make([]byte, 65000+i*1000)
		for j := range b {
			if i%2 == 0 {
				b[j] = byte(rng.Uint32())
			} else {
				b[j] = "chromogenic ova test "[j%21]
			}
		}
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
}

// members reads an OVA: names in order and contents.
func members(t *testing.T, path string) ([]string, map[string][]byte, map[string]*tar.Header) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var names []string
	data := map[string][]byte{}
	hdrs := map[string]*tar.Header{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		data[h.Name] = b
		hdrs[h.Name] = h
	}
	return names, data, hdrs
}

func writeOVA(t *testing.T, src, out string, o Options) *Result {
	t.Helper()
	img, err := diskimage.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := Write(context.Background(), f, img, o)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := f.Stat(); st.Size() != res.Size {
		t.Errorf("file is %d bytes, Result says %d", st.Size(), res.Size)
	}
	return res
}

// vboxKnownTypes are the Item resource types VirtualBox's OVF reader handles; any other
// Item must be ovf:required="false" or the import fails.
var vboxKnownTypes = map[int]bool{3: true, 4: true, 5: true, 6: true, 10: true, 14: true, 15: true, 16: true, 17: true, 20: true, 23: true, 35: true}

func TestOVA(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Fatal("qemu-img missing (apt-get install qemu-utils)")
	}
	dir := t.TempDir()
	const size = 48<<20 + 3*512
	src := filepath.Join(dir, "src.raw")
	makeRaw(t, src, size)
	debian := &OSRelease{ID: "debian", VersionID: "12", Name: "Debian GNU/Linux 12 (bookworm)"}
	mint := &OSRelease{ID: "linuxmint", IDLike: []string{"ubuntu", "debian"}, VersionID: "21.3", Name: "Linux Mint 21.3"}
	cases := []struct {
		name    string
		o       Options
		osID    int16
		vboxOS  string
		vmwOS   string
		ctlType string
	}{
		{"default", Options{}, 101, "Linux26_64", "other3xLinux64Guest", "vmware.sata.ahci"},
		{"debian-efi-sha1", Options{Name: "Debian 12 <test> & co", OS: debian, CPUs: 2, MemoryMiB: 2048, Firmware: "efi", Hash: "sha1"}, 96, "Debian_64", "debian10_64Guest", "vmware.sata.ahci"},
		{"mint-scsi-sha512", Options{Name: "mint", OS: mint, Controller: "scsi", Hash: "sha512", Level: 1, Workers: 3}, 94, "Ubuntu_64", "ubuntu64Guest", "lsilogic"},
		{"ide-efi", Options{Name: "ide", Controller: "ide", Firmware: "EFI"}, 101, "Linux26_64", "other3xLinux64Guest", "PIIX4"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, c.name+".ova")
			res := writeOVA(t, src, out, c.o)
			names, data, hdrs := members(t, out)
			base := fileBase(c.o.Name)
			if c.o.Name == "" {
				base = "appliance"
			}
			want := []string{base + ".ovf", base + "-disk1.vmdk", base + ".mf"}
			if strings.Join(names, " ") != strings.Join(want, " ") {
				t.Fatalf("members %v, want %v", names, want)
			}
			for i, m := range res.Members {
				if m.Name != want[i] || m.Size != int64(len(data[m.Name])) {
					t.Errorf("result member %d = %+v", i, m)
				}
				if h := hdrs[m.Name]; h.Mode != 0o644 || h.Uid != 0 || h.Gid != 0 || h.Typeflag != tar.TypeReg {
					t.Errorf("%s: header %+v", m.Name, h)
				}
			}

			// Descriptor: govmomi parses it and converts it to a vSphere config spec.
			env, err := ovf.Unmarshal(bytes.NewReader(data[want[0]]))
			if err != nil {
				t.Fatalf("govmomi ovf: %v\n%s", err, data[want[0]])
			}
			if len(env.References) != 1 || env.References[0].Href != want[1] || int64(env.References[0].Size) != int64(len(data[want[1]])) {
				t.Errorf("References %+v (disk is %d bytes)", env.References, len(data[want[1]]))
			}
			if env.Disk == nil || len(env.Disk.Disks) != 1 || env.Disk.Disks[0].Capacity != fmt.Sprint(size) ||
				*env.Disk.Disks[0].Format != "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized" {
				t.Errorf("DiskSection %+v", env.Disk)
			}
			vs := env.VirtualSystem
			wantName := c.o.Name
			if wantName == "" {
				wantName = "appliance"
			}
			if vs == nil || vs.Name == nil || *vs.Name != wantName || vs.OperatingSystem == nil {
				t.Fatalf("VirtualSystem %+v", vs)
			}
			if os := vs.OperatingSystem; os.ID != c.osID || os.OSType == nil || *os.OSType != c.vmwOS {
				t.Errorf("OperatingSystemSection id %d osType %v, want %d %s", os.ID, os.OSType, c.osID, c.vmwOS)
			}
			if !bytes.Contains(data[want[0]], []byte(`<vbox:OSType ovf:required="false">`+c.vboxOS+`</vbox:OSType>`)) {
				t.Errorf("no vbox:OSType %s", c.vboxOS)
			}
			hw := vs.VirtualHardware[0]
			if hw.System == nil || hw.System.VirtualSystemType == nil || !strings.HasPrefix(*hw.System.VirtualSystemType, "vmx-") {
				t.Errorf("VirtualSystemType %+v", hw.System)
			}
			seen := map[int]string{}
			for _, it := range hw.Item {
				rt := int(*it.ResourceType)
				if !vboxKnownTypes[rt] && (it.Required == nil || *it.Required) {
					t.Errorf("item type %d is not ovf:required=\"false\": VirtualBox would refuse it", rt)
				}
				q := ""
				if it.VirtualQuantity != nil {
					q = fmt.Sprint(*it.VirtualQuantity)
				}
				if it.ResourceSubType != nil {
					q += *it.ResourceSubType
				}
				if rt == 4 && (it.AllocationUnits == nil || *it.AllocationUnits != "byte * 2^20") {
					t.Errorf("memory units %v", it.AllocationUnits)
				}
				if rt == 17 && (it.Parent == nil || *it.Parent != "3" || len(it.HostResource) != 1 || it.HostResource[0] != "ovf:/disk/vmdisk1") {
					t.Errorf("disk item %+v", it)
				}
				seen[rt] = q
			}
			cpus, mem := max(c.o.CPUs, 1), c.o.MemoryMiB
			if mem == 0 {
				mem = 1024
			}
			ctlRT := map[string]int{"vmware.sata.ahci": 20, "lsilogic": 6, "PIIX4": 5}[c.ctlType]
			if seen[3] != fmt.Sprint(cpus) || seen[4] != fmt.Sprint(mem) || seen[ctlRT] != c.ctlType || seen[10] != "E1000" {
				t.Errorf("hardware items %v", seen)
			}
			spec, err := env.ToConfigSpec()
			if err != nil {
				t.Fatalf("govmomi ToConfigSpec: %v", err)
			}
			efi := strings.EqualFold(c.o.Firmware, "efi")
			if (spec.Firmware == "efi") != efi {
				t.Errorf("config spec firmware %q", spec.Firmware)
			}
			if spec.NumCPUs != int32(cpus) || spec.MemoryMB != int64(mem) || spec.GuestId != c.vmwOS {
				t.Errorf("config spec cpus %d mem %d guest %s", spec.NumCPUs, spec.MemoryMB, spec.GuestId)
			}
			if efi != bytes.Contains(data[want[0]], []byte("<vbox:Machine")) {
				t.Errorf("vbox:Machine present = %v, want %v", !efi, efi)
			}

			// Manifest: every line verifies, every other member is listed.
			alg := strings.ToUpper(c.o.Hash)
			if alg == "" {
				alg = "SHA256"
			}
			sc := bufio.NewScanner(bytes.NewReader(data[want[2]]))
			listed := 0
			for sc.Scan() {
				var name, sum string
				line := sc.Text()
				if !strings.HasPrefix(line, alg+"(") {
					t.Fatalf("manifest line %q", line)
				}
				name, sum, _ = strings.Cut(strings.TrimPrefix(line, alg+"("), ")= ")
				h := newHash(strings.ToLower(alg))
				h.Write(data[name])
				if got := hex.EncodeToString(h.Sum(nil)); got != sum || data[name] == nil {
					t.Errorf("manifest %s: %s, recomputed %s", name, sum, got)
				}
				listed++
			}
			if listed != 2 {
				t.Errorf("manifest lists %d files", listed)
			}

			// GNU tar lists the same order; the disk inside is the source.
			tv := run(t, "tar", "-tvf", out)
			if lines := strings.Split(strings.TrimSpace(tv), "\n"); len(lines) != 3 || !strings.HasSuffix(lines[0], want[0]) ||
				!strings.HasSuffix(lines[1], want[1]) || !strings.HasSuffix(lines[2], want[2]) {
				t.Errorf("tar -tvf:\n%s", tv)
			}
			vmdk := filepath.Join(t.TempDir(), "disk.vmdk")
			if err := os.WriteFile(vmdk, data[want[1]], 0o644); err != nil {
				t.Fatal(err)
			}
			run(t, "qemu-img", "check", "-f", "vmdk", vmdk)
			run(t, "qemu-img", "compare", "-f", "raw", "-F", "vmdk", src, vmdk)
			// OpenStack's format inspector takes the disk for what it is; VMware's stream
			// reader finds the stream rules kept and the source in the grains.
			vmdktest.Require(t, vmdk, "vmdk", size)
			walked := filepath.Join(t.TempDir(), "walked.raw")
			if st := vmdktest.WalkStream(t, vmdk, walked); st.HeaderGD != st.GD {
				t.Errorf("disk header's grain directory offset %#x, the directory is at %d", st.HeaderGD, st.GD)
			}
			run(t, "cmp", src, walked)
		})
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestTarHeaderLarge: a member of 8 GiB or more gets a GNU header that tar readers
// decode to the right size; smaller ones stay USTAR.
func TestTarHeaderLarge(t *testing.T) {
	for _, size := range []int64{0, 1<<33 - 1, 1 << 33, 5<<40 + 12345} {
		b, err := tarHeader("disk.vmdk", size, time.Unix(1700000000, 0))
		if err != nil {
			t.Fatal(err)
		}
		h, err := tar.NewReader(io.MultiReader(bytes.NewReader(b), zeroReader{})).Next()
		if err != nil {
			t.Fatal(err)
		}
		wantFmt := tar.FormatUSTAR
		if size > 1<<33-1 {
			wantFmt = tar.FormatGNU
		}
		if h.Size != size || h.Format != wantFmt || h.Name != "disk.vmdk" {
			t.Errorf("size %d: got %d %v %q", size, h.Size, h.Format, h.Name)
		}
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestOSRelease(t *testing.T) {
	in := "# comment\nPRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nID=ubuntu\nID_LIKE=debian\n"
	o, err := ParseOSRelease(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if o.ID != "ubuntu" || o.VersionID != "22.04" || o.Name != "Ubuntu 22.04.4 LTS" || len(o.IDLike) != 1 {
		t.Errorf("%+v", o)
	}
	for _, c := range []struct {
		o    OSRelease
		cim  int
		vbox string
		vmw  string
	}{
		{OSRelease{ID: "debian", VersionID: "9"}, 96, "Debian_64", "debian9_64Guest"},
		{OSRelease{ID: "debian", VersionID: "12"}, 96, "Debian_64", "debian10_64Guest"},
		{OSRelease{ID: "rhel", VersionID: "9.4"}, 80, "RedHat_64", "rhel8_64Guest"},
		{OSRelease{ID: "rocky", VersionID: "8.9"}, 107, "RedHat_64", "centos8_64Guest"},
		{OSRelease{ID: "pop", IDLike: []string{"ubuntu", "debian"}}, 94, "Ubuntu_64", "ubuntu64Guest"},
		{OSRelease{ID: "nixos"}, 101, "Linux26_64", "other3xLinux64Guest"},
		{OSRelease{}, 101, "Linux26_64", "other3xLinux64Guest"},
	} {
		g := lookupGuest(c.o)
		if g.CIM != c.cim || g.VBox != c.vbox || g.VMware != c.vmw {
			t.Errorf("%+v -> %+v", c.o, g)
		}
	}
}

func TestOptionsRejected(t *testing.T) {
	for _, o := range []Options{{Firmware: "coreboot"}, {Controller: "nvme"}, {Hash: "md5"}, {CPUs: -1}, {MemoryMiB: 1},
		{Profile: "hyperv"}, {HardwareVersion: 14}, {Profile: "virtualbox", HardwareVersion: 14}, {Controller: "pvscsi"},
		{Profile: "virtualbox", Controller: "pvscsi"}, {Profile: "vsphere", HardwareVersion: 9}, {Profile: "vsphere", HardwareVersion: 3, Controller: "scsi"},
		{Profile: "vsphere", HardwareVersion: 100}} {
		if err := o.defaults(); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	r, w, _ := os.Pipe()
	defer r.Close()
	defer w.Close()
	if _, err := Write(context.Background(), w, nil, Options{}); err == nil || !strings.Contains(err.Error(), "regular file") {
		t.Errorf("pipe output: %v", err)
	}
}
