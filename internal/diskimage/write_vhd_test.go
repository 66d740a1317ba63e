package diskimage

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// vhdBlocks parses a dynamic VHD written by us and returns the file offsets of its
// allocated blocks (their bitmap sectors), checking the layout: footer copy, dynamic header,
// BAT, then blocks that neither overlap each other nor the BAT, each with its data on a
// 4 KiB boundary and an all-ones bitmap, and the footer last.
func vhdBlocks(t *testing.T, path string) []int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	be := binary.BigEndian
	if len(b) < 3*sector || string(b[:8]) != vhdCookie || string(b[len(b)-sector:len(b)-sector+8]) != vhdCookie {
		t.Fatalf("%s: no footer copy or footer", path)
	}
	if string(b[:sector]) != string(b[len(b)-sector:]) {
		t.Fatalf("%s: footer copy differs from the footer", path)
	}
	dh := b[sector : 3*sector]
	batOff := int64(be.Uint64(dh[16:]))
	entries := int64(be.Uint32(dh[28:]))
	if be.Uint32(dh[32:]) != vhdBlock {
		t.Fatalf("block size %d", be.Uint32(dh[32:]))
	}
	batEnd := batOff + (entries*4+sector-1)/sector*sector
	var blocks []int64
	for i := int64(0); i < entries; i++ {
		e := be.Uint32(b[batOff+i*4:])
		if e == vhdUnallocated {
			continue
		}
		off := int64(e) * sector
		if off < batEnd || off+sector+vhdBlock > int64(len(b))-sector {
			t.Fatalf("block %d at %d outside [%d, %d)", i, off, batEnd, len(b)-sector)
		}
		if (off+sector)%4096 != 0 {
			t.Errorf("block %d: data at %d is not 4 KiB aligned", i, off+sector)
		}
		for _, c := range b[off : off+sector] {
			if c != 0xff {
				t.Fatalf("block %d: bitmap not all ones", i)
			}
		}
		blocks = append(blocks, off)
	}
	sorted := append([]int64(nil), blocks...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	for i := 1; i < len(sorted); i++ {
		if sorted[i] < sorted[i-1]+sector+vhdBlock {
			t.Fatalf("blocks at %d and %d overlap", sorted[i-1], sorted[i])
		}
	}
	return blocks
}

// TestVHDDynamicAligned writes dynamic VHDs of odd and large sparse sizes and checks the
// aligned block layout, qemu-img's reading of it, ours, and that qemu can still allocate
// new blocks in the file (it appends after the last block).
func TestVHDDynamicAligned(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	const M, G = 1 << 20, 1 << 30
	cases := []struct {
		name   string
		size   int64
		segs   []seg
		blocks int
	}{
		{"one-sector", 512, []seg{{0, 512, 'r'}}, 1},
		{"odd", 3*M + 100, []seg{{1000, 5000, 'r'}, {2*M - 10, 20, 't'}, {3 * M, 100, 'r'}}, 2},
		{"standard", testSize, standardSegs(testSize), -1},
		{"sparse-9G", 9*G + 512, []seg{{0, M, 'r'}, {4*G - 1024, 8192, 'r'}, {8*G + M, M, 't'}, {9*G - 4096, 4608, 'r'}}, 6},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := makeRaw(t, dir, c.name+".raw", c.size, c.segs, 61)
			img, err := Open(src)
			if err != nil {
				t.Fatal(err)
			}
			defer img.Close()
			out := filepath.Join(dir, c.name+".vhd")
			if err := Convert(context.Background(), img, out, "vhd", WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			blocks := vhdBlocks(t, out)
			if c.blocks >= 0 && len(blocks) != c.blocks {
				t.Errorf("%d blocks allocated, want %d", len(blocks), c.blocks)
			}
			// Zero pages inside allocated blocks are holes: the file allocates the source's
			// non-zero pages, one page per block for its bitmap, and the headers.
			if c.size < G {
				checkSparse(t, out, nonZeroBlocks(t, src), int64(len(blocks))*4096+32<<10)
			}
			qemuCompare(t, "raw", src, "vpc", out)
			back := filepath.Join(dir, c.name+".back.raw")
			writeRawFile(t, out, back)
			qemuCompare(t, "raw", src, "raw", back)

			// qemu writes into a new block (appended after ours) and into an existing one;
			// both readers must then agree with each other.
			run(t, "qemu-io", "-f", "vpc", "-c", "write -P 0xa5 "+fmtSize(c.size/2/512*512)+" 512",
				"-c", "write -P 0x5a 0 512", out)
			back2 := filepath.Join(dir, c.name+".back2.raw")
			writeRawFile(t, out, back2)
			qemuCompare(t, "vpc", out, "raw", back2)
		})
	}
}

func TestNonZeroRuns(t *testing.T) {
	b := make([]byte, 5*zeroBlock+100)
	b[10] = 1               // page 0
	b[zeroBlock+7] = 1      // page 1
	b[3*zeroBlock+4095] = 1 // page 3
	b[5*zeroBlock+99] = 1   // short last page
	got := nonZeroRuns(b, nil)
	want := []int64{0, 2 * zeroBlock, 3 * zeroBlock, 4 * zeroBlock, 5 * zeroBlock, 5*zeroBlock + 100}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("nonZeroRuns = %v, want %v", got, want)
	}
	if r := nonZeroRuns(make([]byte, 3*zeroBlock), nil); len(r) != 0 {
		t.Errorf("all zero: %v", r)
	}
}
