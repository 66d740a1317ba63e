package diskimage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var readerVariants = []struct {
	name, format string // qemu-img -O format
	args         []string
	want         string // our Format()
}{
	{"vmdk-monolithicSparse", "vmdk", []string{"-o", "subformat=monolithicSparse"}, "vmdk"},
	{"vmdk-streamOptimized", "vmdk", []string{"-o", "subformat=streamOptimized"}, "vmdk"},
	{"vmdk-monolithicSparse-zeroed", "vmdk", []string{"-o", "subformat=monolithicSparse,zeroed_grain=on"}, "vmdk"},
	{"vmdk-scsi", "vmdk", []string{"-o", "adapter_type=lsilogic,hwversion=6"}, "vmdk"},
	{"vpc-dynamic", "vpc", []string{"-o", "subformat=dynamic"}, "vhd"},
	{"vpc-dynamic-forcesize", "vpc", []string{"-o", "subformat=dynamic,force_size=on"}, "vhd"},
	{"vpc-fixed", "vpc", []string{"-o", "subformat=fixed"}, "vhd"},
	{"vpc-fixed-forcesize", "vpc", []string{"-o", "subformat=fixed,force_size=on"}, "vhd"},
	{"vhdx-default", "vhdx", nil, "vhdx"},
	{"vhdx-1M", "vhdx", []string{"-o", "block_size=1M"}, "vhdx"},
	{"vhdx-2M-nozero", "vhdx", []string{"-o", "block_size=2M,block_state_zero=off"}, "vhdx"},
	{"vhdx-32M-log8M", "vhdx", []string{"-o", "block_size=32M,log_size=8M"}, "vhdx"},
	{"vhdx-fixed", "vhdx", []string{"-o", "subformat=fixed,block_size=4M"}, "vhdx"},
	{"vdi-dynamic", "vdi", nil, "vdi"},
	{"vdi-static", "vdi", []string{"-o", "static=on"}, "vdi"},
}

// TestReadersReadBack reads qemu-img made VMDK and VHD files and compares what WriteRaw
// produces with qemu-img's own conversion back to raw (the virtual size may be rounded up
// by the format, e.g. VHD CHS geometry).
func TestReadersReadBack(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	src := makeRaw(t, dir, "src.raw", testSize, standardSegs(testSize), 11)
	for _, v := range readerVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel() // qemu-img and file I/O: the variants wait on the disk, not the CPU
			in := filepath.Join(dir, v.name+".img")
			run(t, "qemu-img", append(append([]string{"convert", "-f", "raw", "-O", v.format}, v.args...), src, in)...)
			oracle := filepath.Join(dir, v.name+".oracle")
			run(t, "qemu-img", "convert", "-f", v.format, "-O", "raw", in, oracle)
			out := filepath.Join(dir, v.name+".raw")
			img := writeRawFile(t, in, out)
			if img.Format() != v.want {
				t.Fatalf("format %s, want %s", img.Format(), v.want)
			}
			sameContent(t, oracle, out)
			qemuCompare(t, "raw", out, v.format, in)
			checkSparse(t, out, nonZeroBlocks(t, oracle), 256<<10)
			exts, err := img.Extents(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckExtents(exts, img.Size()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestReadersRefuse(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	base := filepath.Join(dir, "base.vmdk")
	run(t, "qemu-img", "create", "-q", "-f", "vmdk", base, "4M")
	delta := filepath.Join(dir, "delta.vmdk")
	run(t, "qemu-img", "create", "-q", "-f", "vmdk", "-b", base, "-F", "vmdk", delta)
	if _, err := Open(delta); !errors.Is(err, ErrBackingFile) {
		t.Errorf("vmdk delta: %v", err)
	}
	flat := filepath.Join(dir, "flat.vmdk")
	run(t, "qemu-img", "create", "-q", "-f", "vmdk", "-o", "subformat=monolithicFlat", flat, "4M")
	// A descriptor VMDK reads its extent file (vmdk_descriptor_test.go); without it, it is
	// refused naming the file.
	if err := os.Remove(filepath.Join(dir, "flat-flat.vmdk")); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(flat); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), `"flat-flat.vmdk"`) {
		t.Errorf("vmdk flat without its extent: %v", err)
	}
	vbase := filepath.Join(dir, "base.vhd")
	run(t, "qemu-img", "create", "-q", "-f", "vpc", vbase, "4M")
	// A truncated dynamic VHD (BAT cut off) is an error, not a panic.
	data, _ := os.ReadFile(vbase)
	short := filepath.Join(dir, "short.vhd")
	os.WriteFile(short, data[:1536], 0o644)
	if img, err := Open(short); err == nil {
		img.Close()
		t.Errorf("truncated VHD opened")
	}
}
