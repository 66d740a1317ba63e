package bootable

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

func TestValidateRoot(t *testing.T) {
	for _, c := range []struct{ volume, subvolume, want string }{
		{"", "", ""},
		{"rhel/root", "", ""},
		{"chromo-vg/root", "@/.snapshots/2/snapshot", ""},
		{"", "/", ""},
		{"root", "", `v "root": want an LVM logical volume as vg/lv`},
		{"/root", "", `v "/root"`},
		{"vg/", "", `v "vg/"`},
		{"vg/lv/x", "", `v "vg/lv/x"`},
		{"vg/l\nv", "", `v "vg/l\nv"`},
		{"", "@/../x", `s: subvolume path "@/../x" climbs`},
		{"", "@\x00", `s: subvolume path "@\x00" holds a NUL`},
	} {
		err := ValidateRoot("v", c.volume, "s", c.subvolume)
		if (err == nil) != (c.want == "") || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("ValidateRoot(%q, %q) = %v, want %q", c.volume, c.subvolume, err, c.want)
		}
	}
}

func TestValidateRootPartition(t *testing.T) {
	for _, c := range []struct {
		partition int
		volume    string
		want      string
	}{
		{0, "", ""},
		{2, "", ""},
		{0, "vg/root", ""},
		{-1, "", "p must be 0 (find it) or a partition number, not -1"},
		{2, "vg/root", `p 2 and v "vg/root" are both set: give one`},
	} {
		err := ValidateRootPartition("p", c.partition, "v", c.volume)
		if (err == nil) != (c.want == "") || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("ValidateRootPartition(%d, %q) = %v, want %q", c.partition, c.volume, err, c.want)
		}
	}
}

// TestStateRootPartitionValue: the root_partition state reads back as the partition number
// whatever integer type Packer's RPC gave it; anything else is refused naming the state.
func TestStateRootPartitionValue(t *testing.T) {
	for _, v := range []interface{}{2, int8(2), int32(2), int64(2), uint8(2), uint32(2), uint64(2), float64(2)} {
		if n, err := StateRootPartitionValue(v); n != 2 || err != nil {
			t.Errorf("StateRootPartitionValue(%T %v) = %d, %v", v, v, n, err)
		}
	}
	if n, err := StateRootPartitionValue(nil); n != 0 || err != nil {
		t.Errorf("no state: %d, %v", n, err)
	}
	for _, v := range []interface{}{"2", -1, uint64(1 << 40), 2.5, true} {
		if n, err := StateRootPartitionValue(v); err == nil || !strings.Contains(err.Error(), "root_partition state") {
			t.Errorf("StateRootPartitionValue(%T %v) = %d, %v: want refused naming the state", v, v, n, err)
		}
	}
}

// TestRootPartition: RootPartition carries the user's pick of the root partition where the
// rule would take another: on mbr-boot the rule picks partition 2; partition 1 (the guest's
// /boot, an ext4 without /etc), picked, is taken as the root and refused as no Linux system,
// not replaced by the rule's root. A partition that does not exist is refused naming
// root_partition. Nothing is left behind.
func TestRootPartition(t *testing.T) {
	testtier.Acceptance(t, "bootable's copy of a disk")
	dir := t.TempDir()
	src := testimages.Make(t, "mbr-boot", dir)
	dst := filepath.Join(dir, "out.raw")
	for part, want := range map[int]string{
		1: "the root filesystem (partition 1 (ext4, 256 MiB)) does not hold a Linux system",
		7: "root_partition 7: the disk has no such partition",
	} {
		start := time.Now()
		_, err := Make(context.Background(), src, dst, Options{RootPartition: part, Logf: func(f string, a ...any) { t.Logf(f, a...) }})
		t.Logf("partition %d: %s: %v", part, time.Since(start).Round(time.Millisecond), err)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Make with root partition %d: %v, want %q", part, err, want)
		}
		if _, serr := os.Stat(dst); !os.IsNotExist(serr) {
			t.Errorf("output left behind after the failure: %v", serr)
		}
		checkReleased(t, dst)
		checkReleased(t, src)
	}
	if _, err := Make(context.Background(), src, dst, Options{RootPartition: 2, RootVolume: "vg/root"}); err == nil ||
		!strings.Contains(err.Error(), `root_partition 2 and root_volume "vg/root" are both set`) {
		t.Errorf("Make with a root partition and a root volume: %v", err)
	}
}
