//go:build linux

package diskimage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// descSize spans two 2 GiB extents of the split subformats, the second partial.
const descSize = 2<<30 + 5<<20 + 5*512

func descSegs() []seg {
	return append(standardSegs(descSize), seg{2<<30 - 5000, 10000, 'r'}) // across the extent boundary
}

// TestVMDKDescriptorReadBack reads descriptor VMDKs made by qemu-img (and a vmfs one and a
// mixed FLAT+SPARSE+ZERO one written here) and checks them against the source byte for
// byte (qemu-img compare of what WriteRaw produces, and ReadAt across extent boundaries),
// that qemu-img reads the same from the VMDK, and that the extent map reports the holes.
func TestVMDKDescriptorReadBack(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	src := makeRaw(t, dir, "src.raw", descSize, descSegs(), 23)
	for _, sub := range []string{"monolithicFlat", "twoGbMaxExtentSparse", "twoGbMaxExtentFlat"} {
		run(t, "qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat="+sub, src, filepath.Join(dir, sub+".vmdk"))
	}
	// ESXi's vmfs: descriptor + -flat.vmdk, a VMFS extent (qemu 7.2 does not create it).
	writeFile(t, filepath.Join(dir, "vmfs.vmdk"), fmt.Sprintf("# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\nisNativeSnapshot = \"no\"\ncreateType=\"vmfs\"\n\n# Extent description\nRW %d VMFS \"monolithicFlat-flat.vmdk\"\n\n# The Disk Data Base\n#DDB\nddb.adapterType = \"lsilogic\"\nddb.thinProvisioned = \"1\"\n", descSize/sector))
	// FLAT, SPARSE, ZERO in one disk: 1 MiB of ZERO appended to the source.
	writeFile(t, filepath.Join(dir, "mixed.vmdk"), fmt.Sprintf("# Disk DescriptorFile\nversion=1\nparentCID=ffffffff\ncreateType=\"custom\"\nRW 4194304 FLAT \"twoGbMaxExtentFlat-f001.vmdk\" 0\nRDONLY %d SPARSE \"twoGbMaxExtentSparse-s002.vmdk\"\nRW 2048 ZERO\n", descSize/sector-4194304))
	mixedWant := filepath.Join(dir, "mixed.want")
	run(t, "cp", "--sparse=always", src, mixedWant)
	if err := os.Truncate(mixedWant, descSize+1<<20); err != nil {
		t.Fatal(err)
	}
	srcData, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer srcData.Close()
	for _, c := range []struct {
		name, createType, want string
		files                  int
		qemu                   bool // qemu-img reads it (not ZERO extents)
	}{
		{"monolithicFlat", "monolithicFlat", src, 1, true},
		{"twoGbMaxExtentSparse", "twoGbMaxExtentSparse", src, 2, true},
		{"twoGbMaxExtentFlat", "twoGbMaxExtentFlat", src, 2, true},
		{"vmfs", "vmfs", src, 1, true},
		{"mixed", "custom", mixedWant, 2, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := filepath.Join(dir, c.name+".vmdk")
			out := filepath.Join(dir, c.name+".out")
			img := writeRawFile(t, in, out)
			if img.Format() != "vmdk" || vmdkCreateTypeOf(img) != c.createType {
				t.Fatalf("format %s createType %q", img.Format(), vmdkCreateTypeOf(img))
			}
			if n := len(img.(*vmdkDescImage).ExtentFiles()); n != c.files {
				t.Errorf("%d extent files, want %d", n, c.files)
			}
			qemuCompare(t, "raw", out, "raw", c.want)
			if c.qemu {
				qemuCompare(t, "raw", out, "vmdk", in)
			}
			checkSparse(t, out, nonZeroBlocksSparse(t, c.want), 1<<20)
			// ReadAt across the extent boundary and at the end, against the source.
			for _, r := range [][2]int64{{2<<30 - 7000, 20000}, {2<<30 - 512, 1024}, {0, 1 << 20}, {descSize - 4000, 4000}} {
				got, want := make([]byte, r[1]), make([]byte, r[1])
				if _, err := img.ReadAt(got, r[0]); err != nil {
					t.Fatalf("ReadAt %d+%d: %v", r[0], r[1], err)
				}
				if _, err := srcData.ReadAt(want, r[0]); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("ReadAt %d+%d differs from the source", r[0], r[1])
				}
			}
			exts, err := img.Extents(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckExtents(exts, img.Size()); err != nil {
				t.Fatal(err)
			}
			var data, holes int64
			for _, e := range exts {
				switch e.Kind {
				case Data:
					data += e.Length
				default:
					holes += e.Length
				}
			}
			// The source holds about 10 MiB of data; a flat extent's map comes from
			// SEEK_DATA (file-system blocks), a sparse one's from 64 KiB grains.
			if data > 32<<20 || holes < img.Size()-32<<20 {
				t.Errorf("extent map: %d bytes of data, %d of holes and zeros", data, holes)
			}
		})
	}
}

// vmdkCreateTypeOf is what `chromogenic info` reports as the subformat.
func vmdkCreateTypeOf(img Image) string {
	if v, ok := img.(interface{ CreateType() string }); ok {
		return v.CreateType()
	}
	return ""
}

// nonZeroBlocksSparse is nonZeroBlocks reading only the data ranges of a sparse file.
func nonZeroBlocksSparse(t testing.TB, path string) int64 {
	t.Helper()
	img, err := OpenFormat(path, "raw")
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	var n int64
	buf := make([]byte, 4096)
	err = WalkExtents(context.Background(), img, func(e Extent) error {
		if e.Kind != Data {
			return nil
		}
		for off := e.Offset &^ 4095; off < e.Offset+e.Length; off += 4096 {
			k, err := img.ReadAt(buf, off)
			if k == 0 && err != nil {
				return err
			}
			if !IsZero(buf[:k]) {
				n += 4096
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func writeFile(t testing.TB, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fifoCanary is a FIFO that records whether anything opened it for reading: a writer
// waits on it, and its open returns only when a reader comes.
type fifoCanary struct {
	path   string
	opened chan struct{}
}

func newFIFOCanary(t *testing.T, path string) *fifoCanary {
	t.Helper()
	if err := unix.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	c := &fifoCanary{path: path, opened: make(chan struct{})}
	go func() {
		fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
		}
		close(c.opened)
	}()
	t.Cleanup(func() {
		// Release the writer: open it for reading ourselves.
		if fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err == nil {
			<-c.opened
			unix.Close(fd)
		}
	})
	return c
}

func (c *fifoCanary) check(t *testing.T) {
	t.Helper()
	time.Sleep(10 * time.Millisecond) // a reader's open would have released the writer by now
	select {
	case <-c.opened:
		t.Fatalf("%s was opened for reading", c.path)
	default:
	}
}

// TestVMDKDescriptorHostile: descriptors naming files outside their directory, links,
// devices, FIFOs, themselves, one file twice, extents larger than their file, deltas and
// ESXi formats are refused, naming the descriptor and its line, and a canary outside the
// directory (a FIFO) is never opened.
func TestVMDKDescriptorHostile(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "vm")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	canary := newFIFOCanary(t, filepath.Join(root, "canary"))
	inner := newFIFOCanary(t, filepath.Join(dir, "fifo.vmdk"))
	writeFile(t, filepath.Join(dir, "ok-flat.vmdk"), strings.Repeat("x", 8*sector))
	writeFile(t, filepath.Join(dir, "small-flat.vmdk"), strings.Repeat("x", sector))
	if err := os.Symlink("../canary", filepath.Join(dir, "link-flat.vmdk")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("ok-flat.vmdk", filepath.Join(dir, "inlink-flat.vmdk")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "ok-flat.vmdk"), filepath.Join(dir, "hard-flat.vmdk")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	haveDev := unix.Mknod(filepath.Join(dir, "null.vmdk"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))) == nil
	head := "# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\n"
	cases := []struct {
		name, body string
		line       int // the line the error names; 0: none
		want       error
		msg        string
	}{
		{"dotdot", `RW 8 FLAT "ok-flat.vmdk" 0` + "\n" + `RW 8 FLAT "../canary" 0`, 7, ErrUnsupported, "not in the descriptor's directory"},
		{"absolute", `RW 8 FLAT "/dev/sda" 0`, 6, ErrUnsupported, "not in the descriptor's directory"},
		{"shadow", `RW 8 VMFS "/etc/shadow"`, 6, ErrUnsupported, "not in the descriptor's directory"},
		{"subdir", `RW 8 FLAT "sub/../../canary" 0`, 6, ErrUnsupported, "not in the descriptor's directory"},
		{"symlink out", `RW 8 FLAT "ok-flat.vmdk" 0` + "\n" + `RW 8 FLAT "link-flat.vmdk" 0`, 7, ErrUnsupported, "symbolic link"},
		{"symlink in", `RW 8 FLAT "inlink-flat.vmdk" 0`, 6, ErrUnsupported, "symbolic link"},
		{"fifo", `RW 8 FLAT "fifo.vmdk" 0`, 6, ErrUnsupported, "not a regular file"},
		{"directory", `RW 8 FLAT "sub" 0`, 6, ErrUnsupported, "not a regular file"},
		{"itself", `RW 1 FLAT "d.vmdk" 0`, 6, ErrCorrupt, "the descriptor itself"},
		{"twice", `RW 8 FLAT "ok-flat.vmdk" 0` + "\n" + `RW 8 FLAT "ok-flat.vmdk" 0`, 7, ErrCorrupt, "named twice"},
		{"hard link twice", `RW 8 FLAT "ok-flat.vmdk" 0` + "\n" + `RW 8 FLAT "hard-flat.vmdk" 0`, 7, ErrCorrupt, "named twice"},
		{"missing", `RW 8 FLAT "gone-flat.vmdk" 0`, 6, ErrCorrupt, "no such file"},
		{"too big for its file", `RW 2 FLAT "small-flat.vmdk" 0`, 6, ErrCorrupt, "file holds 512"},
		{"offset past the file", `RW 1 FLAT "small-flat.vmdk" 1`, 6, ErrCorrupt, "file holds 512"},
		{"flat as sparse", `RW 8 SPARSE "ok-flat.vmdk"`, 6, ErrCorrupt, "not a VMDK sparse extent"},
		{"flat without offset", `RW 8 FLAT "ok-flat.vmdk"`, 6, ErrCorrupt, "needs a file name and an offset"},
		{"vmfsSparse extent", `RW 8 VMFSSPARSE "ok-flat.vmdk"`, 6, ErrUnsupported, "VMFSSPARSE"},
		{"seSparse extent", `RW 8 SESPARSE "ok-flat.vmdk"`, 6, ErrUnsupported, "SESPARSE"},
		{"noaccess", `NOACCESS 8 FLAT "ok-flat.vmdk" 0`, 6, ErrUnsupported, "NOACCESS"},
		{"too large", `RW 68719476736 ZERO` + "\n" + `RW 137438953472 ZERO`, 7, ErrTooLarge, "64 TiB"},
		{"too many", strings.Repeat("RW 1 ZERO\n", vmdkDescMaxExtents+1), 6 + vmdkDescMaxExtents, ErrUnsupported, "more than 4096 extents"},
		{"no extent", "", 0, ErrCorrupt, "names no extent"},
		{"garbage", "RW 8 FLAT ok-flat.vmdk 0", 6, ErrCorrupt, "not quoted"},
	}
	if haveDev {
		cases = append(cases, struct {
			name, body string
			line       int
			want       error
			msg        string
		}{"device", `RW 8 FLAT "null.vmdk" 0`, 6, ErrUnsupported, "not a regular file"})
	}
	desc := filepath.Join(dir, "d.vmdk")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			writeFile(t, desc, head+c.body+"\n")
			img, err := Open(desc)
			if err == nil {
				img.Close()
				t.Fatal("opened")
			}
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) || !strings.Contains(err.Error(), desc) {
				t.Errorf("got %v; want %v naming %s and saying %q", err, c.want, desc, c.msg)
			}
			if line := fmt.Sprintf("line %d", c.line); c.line > 0 && !strings.Contains(err.Error(), line) {
				t.Errorf("%v does not name %s", err, line)
			}
		})
	}
	// Deltas and ESXi's other disk types, refused by their header.
	for _, c := range []struct {
		name, text string
		want       error
		msg        string
	}{
		{"delta", "# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=8a6b2f3c\ncreateType=\"monolithicFlat\"\nparentFileNameHint=\"base.vmdk\"\nRW 8 FLAT \"ok-flat.vmdk\" 0\n", ErrBackingFile, `"base.vmdk"`},
		{"delta without hint", "# Disk DescriptorFile\nparentCID=8a6b2f3c\nRW 8 FLAT \"ok-flat.vmdk\" 0\n", ErrBackingFile, "parentCID 8a6b2f3c"},
		{"vmfsSparse", "# Disk DescriptorFile\nparentCID=ffffffff\ncreateType=\"vmfsSparse\"\nRW 8 VMFS \"ok-flat.vmdk\"\n", ErrUnsupported, "vmfsSparse"},
		{"seSparse", "# Disk DescriptorFile\nparentCID=ffffffff\ncreateType=\"seSparse\"\nRW 8 VMFS \"ok-flat.vmdk\"\n", ErrUnsupported, "seSparse"},
		{"rdm", "# Disk DescriptorFile\nparentCID=ffffffff\ncreateType=\"vmfsRawDeviceMap\"\nRW 8 VMFS \"ok-flat.vmdk\"\n", ErrUnsupported, "raw device mapping"},
		{"fullDevice", "# Disk DescriptorFile\nparentCID=ffffffff\ncreateType=\"fullDevice\"\nRW 8 FLAT \"ok-flat.vmdk\" 0\n", ErrUnsupported, "physical disk"},
	} {
		writeFile(t, desc, c.text)
		img, err := Open(desc)
		if err == nil {
			img.Close()
			t.Errorf("%s: opened", c.name)
		} else if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) || !strings.Contains(err.Error(), desc) {
			t.Errorf("%s: %v; want %v saying %q", c.name, err, c.want, c.msg)
		}
	}
	// Read through an io.ReaderAt (a remote image, an archive member): no directory.
	writeFile(t, desc, head+`RW 8 FLAT "ok-flat.vmdk" 0`+"\n")
	f, err := os.Open(desc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	if img, err := OpenReaderAt(f, st.Size(), "vmdk", nil); !errors.Is(err, ErrVMDKDescriptorNotLocal) || !strings.Contains(err.Error(), "give its local path") {
		if img != nil {
			img.Close()
		}
		t.Errorf("descriptor through OpenReaderAt: %v", err)
	}
	// The same descriptor from its path reads its extent.
	img, err := Open(desc)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8*sector)
	if _, err := img.ReadAt(b, 0); err != nil || string(b) != strings.Repeat("x", 8*sector) {
		t.Errorf("good descriptor: %v %.20q", err, b)
	}
	img.Close()
	canary.check(t)
	inner.check(t)
}

// TestVMDKDescriptorEmbedded: a sparse header of capacity 0 whose embedded descriptor
// names the extents is read as that descriptor, as qemu reads it; through an io.ReaderAt
// it is refused.
func TestVMDKDescriptorEmbedded(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	src := makeRaw(t, dir, "e-flat.vmdk", testSize, standardSegs(testSize), 5)
	text := fmt.Sprintf("# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\nRW %d FLAT \"e-flat.vmdk\" 0\n", testSize/sector)
	b := vmdkHeaderBytes(1, 3, 0, 0, 0, 1+vmdkDescSectors, 0)
	b = append(b, text...)
	b = append(b, make([]byte, (1+vmdkDescSectors)*sector-len(b))...)
	in := filepath.Join(dir, "e.vmdk")
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "e.out")
	img := writeRawFile(t, in, out)
	if img.Size() != testSize || vmdkCreateTypeOf(img) != "monolithicFlat" {
		t.Fatalf("size %d createType %q", img.Size(), vmdkCreateTypeOf(img))
	}
	sameContent(t, src, out)
	qemuCompare(t, "raw", out, "vmdk", in)
	if img, err := OpenReaderAt(bytes.NewReader(b), int64(len(b)), "vmdk", nil); !errors.Is(err, ErrVMDKDescriptorNotLocal) {
		if img != nil {
			img.Close()
		}
		t.Errorf("embedded descriptor through OpenReaderAt: %v", err)
	}
	if why := AsIsRefusal("vmdk", b[:sector]); why == "" {
		t.Error("embedded descriptor sent as it is")
	}
}

// FuzzVMDKDescriptor: the descriptor parser never panics, and what it accepts is bounded
// (extents, total size) and names only plain file names.
func FuzzVMDKDescriptor(f *testing.F) {
	f.Add([]byte("# Disk DescriptorFile\nversion=1\nCID=a38acca4\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\n# Extent description\nRW 10485760 FLAT \"monolithicFlat-flat.vmdk\" 0\n# The Disk Data Base\n#DDB\nddb.virtualHWVersion = \"4\"\nddb.adapterType = \"ide\"\n"))
	f.Add([]byte("# Disk DescriptorFile\nparentCID=ffffffff\ncreateType=\"twoGbMaxExtentSparse\"\nRW 4194304 SPARSE \"a-s001.vmdk\"\nRW 4194304 SPARSE \"a-s002.vmdk\"\nRDONLY 2097152 SPARSE \"a b-s003.vmdk\"\n"))
	f.Add([]byte("# Disk DescriptorFile\ncreateType=\"vmfs\"\nRW 8 VMFS \"x-flat.vmdk\"\nRW 8 ZERO\n\x00garbage"))
	f.Add([]byte("# Disk DescriptorFile\nparentCID=12345678\nparentFileNameHint=\"../base.vmdk\"\nRW 8 FLAT \"../../etc/shadow\" 0\r\n"))
	f.Add([]byte("RW 9223372036854775807 ZERO\nRW 1 FLAT \"\" -1\nNOACCESS 1 SESPARSE \"x\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := parseVMDKDescriptor(data)
		if err != nil {
			return
		}
		if len(d.extents) == 0 || len(d.extents) > vmdkDescMaxExtents || d.size > MaxVirtualSize {
			t.Fatalf("%d extents, %d bytes accepted", len(d.extents), d.size)
		}
		var sum int64
		for _, e := range d.extents {
			if e.sectors <= 0 || e.offset < 0 || (e.typ != "ZERO" && checkExtentName(e.file) != nil) {
				t.Fatalf("extent accepted: %+v", e)
			}
			sum += e.sectors * sector
		}
		if sum != d.size {
			t.Fatalf("size %d, extents sum to %d", d.size, sum)
		}
	})
}
