package chroot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
)

// twoDisks makes the two-disk guest in dir and returns its disks, boot disk first.
func twoDisks(t *testing.T, dir string) []string {
	t.Helper()
	a := testimages.Make(t, "two-disk", dir)
	others := testimages.OtherDisks(a)
	if len(others) != 1 {
		t.Fatalf("two-disk: other disks %v", others)
	}
	return append([]string{a}, others...)
}

// The two-disk guest: OpenImages finds the root on disk 1 and mounts /srv (fstab UUID=) and
// /var/lib/data (fstab /dev/vdb2, by disk order, with a warning) from disk 2; a file written
// to the guest's /srv lands on disk 2 (read back through a fresh loop after Close) and not on
// disk 1; the lease names both disks; nothing stays attached or mounted after Close.
func TestOpenImagesTwoDisks(t *testing.T) {
	dir := t.TempDir()
	disks := twoDisks(t, dir)
	leases := filepath.Join(dir, "leases")
	old := LeaseDir
	LeaseDir = leases
	t.Cleanup(func() { LeaseDir = old })
	img, err := OpenImages(disks, ImageOptions{TempDir: dir, TempPattern: "mnt-", ChrootMounts: DefaultChrootMounts})
	if err != nil {
		t.Fatal(err)
	}
	releaseOnFail(t, img)
	if img.Root.Disk != 0 || img.Root.Number != 1 || len(img.Paths) != 2 || img.Paths[1] != disks[1] {
		t.Fatalf("root %v (disk %d), paths %v", img.Root, img.Root.Disk, img.Paths)
	}
	other := img.Disk.Others[0]
	mounts := map[string]string{}
	for _, m := range MountsUnder(img.MountPath) {
		mounts[m.Point] = m.Source
	}
	for mp, n := range map[string]int{"srv": 1, "var/lib/data": 2} {
		if got, want := mounts[filepath.Join(img.MountPath, mp)], other.Partition(n).Device; got != want {
			t.Errorf("/%s is %q, want disk 2 partition %d on %s (mounts %v)", mp, got, n, want, mounts)
		}
	}
	if w := strings.Join(img.Disk.Warnings(), "\n"); !strings.Contains(w, "/dev/vdb2") || !strings.Contains(w, "disk order") {
		t.Errorf("warnings %q: want one for /dev/vdb2 taken by disk order", w)
	}
	if len(img.Guest.Filesystems) != 3 {
		t.Errorf("filesystems to trim: %v, want /, /srv, /var/lib/data", img.Guest.Filesystems)
	}
	raw, err := os.ReadFile(leasePath(img.MountPath))
	if err != nil {
		t.Fatal(err)
	}
	var l lease
	if err := json.Unmarshal(raw, &l); err != nil || l.Image != disks[0] || len(l.Images) != 1 || l.Images[0] != disks[1] {
		t.Fatalf("lease %s: %v", raw, err)
	}
	marker := []byte(fmt.Sprintf("written at %d\n", time.Now().UnixNano()))
	if err := img.Guest.Guest().WriteFile("/srv/marker", marker, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := other.Partition(1)
	mnt := img.MountPath
	if err := img.Close(); err != nil {
		t.Fatal(err)
	}
	for _, d := range disks {
		assertReleased(t, d, mnt)
	}
	if _, err := os.Stat(leasePath(mnt)); !os.IsNotExist(err) {
		t.Errorf("lease left after Close: %v", err)
	}
	got, err := readRange(t, disks[1], srv.Start, srv.Size, "marker")
	if err != nil || !bytes.Equal(got, marker) {
		t.Fatalf("marker on disk 2: %q %v, want %q", got, err, marker)
	}
	if _, err := readRange(t, disks[0], img.Root.Start, img.Root.Size, "srv/marker"); !os.IsNotExist(err) {
		t.Fatalf("marker on disk 1's root under /srv: %v, want none", err)
	}
}

// editFstab rewrites the guest fstab on the boot disk with edit.
func editFstab(t *testing.T, image string, edit func(string) string) {
	t.Helper()
	img, err := OpenImage(image, ImageOptions{TempDir: t.TempDir(), TempPattern: "edit-", Guest: GuestOptions{FstabMounts: []string{}}})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	r := img.Guest.Guest()
	raw, err := r.ReadFileLimit("/etc/fstab", MaxFstabSize)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WriteFile("/etc/fstab", []byte(edit(string(raw))), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := img.Close(); err != nil {
		t.Fatal(err)
	}
}

// A guest fstab entry naming no filesystem of any disk given (a disk left out, here a UUID
// changed) fails OpenImages after the root and /srv's neighbours were mounted, with an error
// naming the mount point and the spec; nothing stays mounted or attached on either disk.
// The same entry with nofail is left out.
func TestOpenImagesHalfwayFailure(t *testing.T) {
	dir := t.TempDir()
	disks := twoDisks(t, dir)
	var spec string
	editFstab(t, disks[0], func(s string) string {
		var out []string
		for _, line := range strings.Split(s, "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[1] == "/srv" {
				continue
			}
			out = append(out, line)
		}
		// /srv moves last, so that disk 2's /var/lib/data is mounted before the failure.
		spec = "UUID=00000000-0000-4000-8000-000000000000"
		return strings.Join(out, "\n") + "\n" + spec + " /srv ext4 defaults 0 2\n"
	})
	if spec == "" {
		t.Fatal("no /srv entry in the fstab")
	}
	mnt := filepath.Join(dir, "mnt")
	_, err := OpenImages(disks, ImageOptions{MountPath: mnt})
	if err == nil || !strings.Contains(err.Error(), "/srv") || !strings.Contains(err.Error(), spec) || !strings.Contains(err.Error(), "2 disks") {
		t.Fatalf("OpenImages: %v, want an error naming /srv, %s and the 2 disks", err, spec)
	}
	for _, d := range disks {
		assertReleased(t, d, mnt)
	}
	if _, err := os.Stat(leasePath(mnt)); !os.IsNotExist(err) {
		t.Errorf("lease left after the failure: %v", err)
	}

	editFstab(t, disks[0], func(s string) string {
		return strings.Replace(s, spec+" /srv ext4 defaults", spec+" /srv ext4 defaults,nofail", 1)
	})
	img, err := OpenImages(disks, ImageOptions{MountPath: mnt})
	if err != nil {
		t.Fatal(err)
	}
	releaseOnFail(t, img)
	if m := MountedUnder(mnt); len(m) != 2 {
		t.Errorf("mounted %v, want the root and /var/lib/data (/srv is nofail)", m)
	}
}

// A build holding the two-disk guest is killed with SIGKILL: RecoverStale releases its mounts
// on both disks, and no loop device stays backed by either.
func TestOpenImagesKilledBuildRecovered(t *testing.T) {
	if c := os.Getenv("CHROMOGENIC_MULTIDISK_CHILD"); c != "" {
		img, err := OpenImages(strings.Split(c, ","), ImageOptions{MountPath: os.Getenv("CHROMOGENIC_MULTIDISK_MNT")})
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Println("MOUNTED", len(img.Guest.Filesystems))
		time.Sleep(time.Hour)
	}
	dir := t.TempDir()
	disks := twoDisks(t, dir)
	mnt := filepath.Join(dir, "mnt")
	killChild(t, dir, "TestOpenImagesKilledBuildRecovered", "MOUNTED 3", "CHROMOGENIC_MULTIDISK_CHILD="+strings.Join(disks, ","), "CHROMOGENIC_MULTIDISK_MNT="+mnt)
	if m, l := MountedUnder(mnt), LoopsBackedBy(disks[1]); len(m) != 3 || len(l) < 2 {
		t.Fatalf("after SIGKILL: mounts %v, disk 2 loops %v: the test would prove nothing", m, l)
	}
	recoverKilled(t, disks...)
	for _, d := range disks {
		assertReleased(t, d, mnt)
	}
}

// Kernel device names on a guest of several disks are taken by disk order, each with a
// warning: letters (sd, vd, hd, xvd) and NVMe controller numbers pick the disk; a name past
// the last disk, or a whole partitioned disk, is nothing.
func TestResolveDiskOrder(t *testing.T) {
	p1, p2 := &Partition{Number: 1, FSType: "ext4"}, &Partition{Number: 2, FSType: "ext4"}
	q1, q2 := &Partition{Number: 1, FSType: "ext4", Disk: 1}, &Partition{Number: 2, FSType: "xfs", Disk: 1}
	bare := &Partition{Number: 0, FSType: "ext4", Disk: 2}
	d := &Disk{Image: "/a.raw", Table: "dos", Partitions: []*Partition{p1, p2}, Others: []*Disk{
		{Image: "/b.raw", Table: "gpt", Partitions: []*Partition{q1, q2}},
		{Image: "/c.raw", Partitions: []*Partition{bare}},
	}}
	for spec, want := range map[string]*Partition{
		"/dev/vda2": p2, "/dev/sdb1": q1, "/dev/xvdb2": q2, "/dev/hda1": p1,
		"/dev/nvme0n1p1": p1, "/dev/nvme1n1p2": q2, "/dev/vdc": bare, "/dev/nvme2n1": bare,
		"/dev/vdd1": nil, "/dev/nvme3n1p1": nil, "/dev/vdb": nil, "/dev/vdb3": nil,
	} {
		got, err := d.ResolveSpec(spec)
		if err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", spec, got, err, want)
		}
	}
	w := strings.Join(d.Warnings(), "\n")
	if !strings.Contains(w, "/dev/nvme1n1p2 taken by disk order as partition 2 of disk 2 (b.raw, xfs)") {
		t.Errorf("warnings:\n%s", w)
	}
	// One disk: the old rule, partition N whatever the letter, and no warning.
	one := &Disk{Image: "/a.raw", Table: "dos", Partitions: []*Partition{p1, p2}}
	if got, _ := one.ResolveSpec("/dev/xvdb2"); got != p2 || len(one.Warnings()) != 0 {
		t.Errorf("one disk: /dev/xvdb2 = %v, warnings %v", got, one.Warnings())
	}
}
