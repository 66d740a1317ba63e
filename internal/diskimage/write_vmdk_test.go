package diskimage

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage/vmdktest"
)

// patchFile is a VMDKPatcher over a regular file that the writer cannot see as one (an OVA
// member, in production).
type patchFile struct {
	f       *os.File
	written int64
}

func (p *patchFile) Write(b []byte) (int, error) {
	n, err := p.f.Write(b)
	p.written += int64(n)
	return n, err
}

func (p *patchFile) PatchAt(b []byte, off int64) error {
	if off+int64(len(b)) > p.written {
		return io.ErrShortWrite
	}
	_, err := p.f.WriteAt(b, off)
	return err
}

// writeVMDKTo writes img as VMDK with o to path: into the file itself ("file"), through a
// pipe ("pipe": no seeking, no patching) or through a VMDKPatcher ("patch").
func writeVMDKTo(t *testing.T, img Image, path, how string, o WriteOptions) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := vmdkWriter{}
	switch how {
	case "file":
		err = w.Write(context.Background(), f, img, o)
	case "patch":
		err = w.Write(context.Background(), &patchFile{f: f}, img, o)
	case "pipe":
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() { _, err := io.Copy(f, pr); done <- err }()
		err = w.Write(context.Background(), struct{ io.Writer }{pw}, img, o)
		pw.CloseWithError(err)
		if cerr := <-done; err == nil {
			err = cerr
		}
	}
	if err != nil {
		t.Fatalf("%s (%s): %v", path, how, err)
	}
}

// TestVMDKConsumers writes every VMDK variant and reads each the way its consumers do:
// OpenStack's format inspector (detected as vmdk, the right virtual size, safety check
// passing), qemu-img (check clean, compare identical to the source) and, for
// streamOptimized, VMware's sequential stream reader (vmdktest.WalkStream: the stream
// rules, and the disk its grains make is the source). A stream written to a file, through
// a patcher and into a pipe is the same file, byte for byte.
func TestVMDKConsumers(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	sources := map[string]int64{"standard": testSize, "empty": 3<<20 + 512}
	for name, size := range sources {
		var segs []seg
		if name == "standard" {
			segs = standardSegs(size)
		}
		src := makeRaw(t, dir, name+".raw", size, segs, 31)
		img, err := Open(src)
		if err != nil {
			t.Fatal(err)
		}
		defer img.Close()
		for _, c := range []struct {
			name string
			o    WriteOptions
		}{
			{"stream", WriteOptions{}},
			{"stream-ide-l1", WriteOptions{AdapterType: "ide", Level: 1, Workers: 3}},
			{"stream-l9", WriteOptions{Level: 9, Workers: 1}},
			{"sparse", WriteOptions{Subformat: "monolithicSparse"}},
		} {
			t.Run(name+"/"+c.name, func(t *testing.T) {
				hows := []string{"file", "patch", "pipe"}
				if c.o.Subformat != "" {
					hows = hows[:1]
				}
				var first []byte
				for _, how := range hows {
					out := filepath.Join(dir, name+"-"+c.name+"-"+how+".vmdk")
					writeVMDKTo(t, img, out, how, c.o)
					vmdktest.Require(t, out, "vmdk", size)
					qemuCheck(t, "vmdk", out)
					qemuCompare(t, "raw", src, "vmdk", out)
					got, err := os.ReadFile(out)
					if err != nil {
						t.Fatal(err)
					}
					if first == nil {
						first = got
					} else if !bytes.Equal(first, got) {
						t.Errorf("%s: written %s differs from written to a file", out, how)
					}
					if c.o.Subformat != "" {
						continue
					}
					raw := out + ".walked.raw"
					st := vmdktest.WalkStream(t, out, raw)
					if st.HeaderGD == vmdktest.GDAtEnd || st.HeaderGD != st.GD {
						t.Errorf("%s: header grain directory offset %#x, the directory is at %d", out, st.HeaderGD, st.GD)
					}
					if (st.Grains == 0) != (name == "empty") {
						t.Errorf("%s: %d grains", out, st.Grains)
					}
					sameContentPrefix(t, src, raw)
				}
			})
		}
	}
}

// TestVMDKInspectorRefusesGDAtEnd is the other side of TestVMDKConsumers: the stream layout
// as VMware writes it, the grain directory offset in the footer only (the header says
// GD_AT_END), is valid for VMware and qemu but OpenStack's inspector takes it for raw.
// This is the file the writer wrote before it put the offset in the header.
func TestVMDKInspectorRefusesGDAtEnd(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	src := makeRaw(t, dir, "src.raw", testSize, standardSegs(testSize), 32)
	img, err := Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	out := filepath.Join(dir, "atend.vmdk")
	writeVMDKTo(t, img, out, "file", WriteOptions{})
	f, err := os.OpenFile(out, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	var gd [8]byte
	binary.LittleEndian.PutUint64(gd[:], vmdkGDAtEnd)
	if _, err := f.WriteAt(gd[:], 56); err != nil {
		t.Fatal(err)
	}
	f.Close()
	qemuCheck(t, "vmdk", out)
	qemuCompare(t, "raw", src, "vmdk", out)
	if st := vmdktest.WalkStream(t, out, out+".raw"); st.HeaderGD != vmdktest.GDAtEnd {
		t.Fatalf("header offset %#x", st.HeaderGD)
	}
	sameContentPrefix(t, src, out+".raw")
	if r := vmdktest.Inspect(t, out); r.Format != "raw" {
		t.Errorf("inspector on a GD_AT_END stream: %+v, want it taken for raw", r)
	}
}

// TestVMDKStreamProgress: a stream into a pipe makes two passes; the progress it reports
// (throttled: a small disk may see only the last call) never goes back and ends at the
// disk's size.
func TestVMDKStreamProgress(t *testing.T) {
	dir := t.TempDir()
	src := makeRaw(t, dir, "src.raw", testSize, standardSegs(testSize), 33)
	img, err := Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	var last int64
	o := WriteOptions{Progress: func(done, total int64) {
		if total != testSize || done < last || done > total {
			t.Errorf("progress %d/%d after %d", done, total, last)
		}
		last = done
	}}
	writeVMDKTo(t, img, filepath.Join(dir, "p.vmdk"), "pipe", o)
	if last != testSize {
		t.Errorf("progress ended at %d", last)
	}
}
