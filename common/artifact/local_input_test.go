package artifact

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ugorji/go/codec"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage/diskimagetest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/ova"
)

// testArtifact carries files the way chromogenic-convert's artifact does (files_by_format,
// image_path answering the first format), or only files.
type testArtifact struct {
	files   []string
	byFmt   map[string]string
	first   string
	noState bool
}

func (a *testArtifact) BuilderId() string { return "test" }
func (a *testArtifact) Files() []string   { return a.files }
func (a *testArtifact) Id() string        { return "" }
func (a *testArtifact) String() string    { return "" }
func (a *testArtifact) Destroy() error    { return nil }
func (a *testArtifact) State(name string) interface{} {
	if a.noState {
		return nil
	}
	switch name {
	case ImagePath:
		return a.byFmt[a.first]
	case ImageFormat:
		return a.first
	case FilesByFormat:
		// As msgpack hands it across Packer's RPC.
		m := map[interface{}]interface{}{}
		for k, v := range a.byFmt {
			m[k] = []byte(v)
		}
		return m
	}
	return nil
}

// makeImages writes a 20 MiB raw disk with data and its qcow2, vmdk and ova conversions
// with the project's own writers.
func makeImages(t *testing.T) (dir string, files map[string]string) {
	t.Helper()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Fatal("qemu-img missing (apt-get install qemu-utils)")
	}
	dir = t.TempDir()
	files = map[string]string{}
	raw := filepath.Join(dir, "disk.raw")
	f, err := os.Create(raw)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(20 << 20)
	f.WriteAt([]byte(strings.Repeat("chromogenic local input ", 5000)), 3<<20)
	f.Close()
	files["raw"] = raw
	src, err := diskimage.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for _, format := range []string{"qcow2", "vmdk"} {
		p := filepath.Join(dir, "disk."+format)
		if err := diskimage.Convert(context.Background(), src, p, format, diskimage.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		files[format] = p
	}
	p := filepath.Join(dir, "disk.ova")
	o, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ova.Write(context.Background(), o, src, ova.Options{Name: "disk"}); err != nil {
		t.Fatal(err)
	}
	o.Close()
	files["ova"] = p
	return dir, files
}

func TestLocalImageFor(t *testing.T) {
	dir, files := makeImages(t)
	ovaQcow2 := &testArtifact{files: []string{files["ova"], files["qcow2"]},
		byFmt: map[string]string{"ova": files["ova"], "qcow2": files["qcow2"]}, first: "ova"}
	ovaOnly := &testArtifact{files: []string{files["ova"]}, byFmt: map[string]string{"ova": files["ova"]}, first: "ova"}
	cases := []struct {
		name    string
		a       *testArtifact
		formats []string
		path    string
		format  string
	}{
		// The bug: image_path answers the first format, the OVA.
		{"ova-first-disk-wanted", ovaQcow2, []string{"qcow2", "raw", "qcow2", "vmdk", "vhd", "ova"}, files["qcow2"], "qcow2"},
		{"ova-first-any-disk", ovaQcow2, ImportFormats, files["qcow2"], "qcow2"},
		{"ova-only", ovaOnly, ImportFormats, files["ova"], "ova"},
		{"vmdk-as-is-before-raw", &testArtifact{byFmt: map[string]string{"raw": files["raw"], "vmdk": files["vmdk"]}, first: "raw"},
			[]string{"vmdk", "raw"}, files["vmdk"], "vmdk"},
		// No state: files recognised by content; the OVA is an OVA, not raw.
		{"files-only", &testArtifact{files: []string{files["ova"], files["qcow2"]}, noState: true}, ImportFormats, files["qcow2"], "qcow2"},
		{"files-only-ova", &testArtifact{files: []string{files["ova"] + ".sha256", files["ova"]}, noState: true}, ImportFormats, files["ova"], "ova"},
	}
	os.WriteFile(files["ova"]+".sha256", []byte("0  disk.ova\n"), 0o644)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in, err := LocalImageFor(c.a, c.formats)
			if err != nil {
				t.Fatal(err)
			}
			if in.Path != c.path || in.Format != c.format {
				t.Fatalf("chose %s, want %s (%s)", in, c.path, c.format)
			}
			img, err := in.Open()
			if err != nil {
				t.Fatal(err)
			}
			if img.Size() != 20<<20 {
				t.Errorf("image %d bytes", img.Size())
			}
			// What an import reads equals the source disk (qemu-img compare).
			back := filepath.Join(dir, c.name+".back.raw")
			if err := diskimage.Convert(context.Background(), img, back, "raw", diskimage.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			img.Close()
			if out, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", "raw", back, files["raw"]).CombinedOutput(); err != nil {
				t.Fatalf("qemu-img compare: %v\n%s", err, out)
			}
			if in.Format == "ova" {
				if in.Disk != "disk-disk1.vmdk" || in.DiskFormat != "vmdk" || in.ImageFormat() != "vmdk" {
					t.Errorf("ova input: %+v", in)
				}
				// OpenBytes is the VMDK member, as tar extracts it.
				r, n, err := in.OpenBytes()
				if err != nil {
					t.Fatal(err)
				}
				got, _ := io.ReadAll(r)
				r.Close()
				out, err := exec.Command("tar", "-xOf", in.Path, in.Disk).Output()
				if err != nil || string(got) != string(out) || int64(len(got)) != n {
					t.Errorf("OpenBytes: %d bytes (said %d), tar extracts %d (%v)", len(got), n, len(out), err)
				}
			}
		})
	}

	t.Run("refused", func(t *testing.T) {
		// An import that reads only qcow2 and raw, given an OVA-only artifact.
		_, err := LocalImageFor(ovaOnly, []string{"qcow2", "raw"})
		if err == nil || !strings.Contains(err.Error(), files["ova"]+" (ova)") || !strings.Contains(err.Error(), "qcow2, raw") {
			t.Errorf("got %v, want an error naming the file, its format and what is read", err)
		}
		// A file said to be qcow2 that is an OVA.
		lying := &testArtifact{byFmt: map[string]string{"qcow2": files["ova"]}, first: "qcow2"}
		if _, err := LocalImageFor(lying, ImportFormats); err == nil || !strings.Contains(err.Error(), "its content is ova") {
			t.Errorf("mislabelled file: %v", err)
		}
		// A two-disk OVA.
		two := filepath.Join(dir, "two.ova")
		ovf := `<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"><References><File id="a" href="disk.vmdk"/><File id="b" href="disk.qcow2"/></References>` +
			`<DiskSection><Disk diskId="d1" fileRef="a" capacity="20971520"/><Disk diskId="d2" fileRef="b" capacity="20971520"/></DiskSection></Envelope>`
		os.WriteFile(filepath.Join(dir, "two.ovf"), []byte(ovf), 0o644)
		if out, err := exec.Command("tar", "--format=ustar", "-C", dir, "-cf", two, "two.ovf", "disk.vmdk", "disk.qcow2").CombinedOutput(); err != nil {
			t.Fatalf("tar: %v\n%s", err, out)
		}
		_, err = LocalImageFor(&testArtifact{byFmt: map[string]string{"ova": two}, first: "ova"}, ImportFormats)
		if err == nil || !strings.Contains(err.Error(), two) || !strings.Contains(err.Error(), "2 disks") {
			t.Errorf("two-disk OVA: %v", err)
		}
		if _, err := LocalImageFor(&testArtifact{files: []string{files["ova"] + ".sha256"}, noState: true}, ImportFormats); err == nil ||
			!strings.Contains(err.Error(), "no local disk image") {
			t.Errorf("no image: %v", err)
		}
	})
	// The former chooser took the OVA (image_path) and the probe called it raw.
	if _, err := diskimage.Open(files["ova"]); !errors.Is(err, diskimage.ErrContainer) {
		t.Errorf("diskimage.Open(ova) = %v, want ErrContainer", err)
	}
}

// TestFilesByFormatRPC: the files_by_format map survives Packer's RPC codec (msgpack, as the
// SDK's rpc client and server set it up), which hands it over as a generic map.
func TestFilesByFormatRPC(t *testing.T) {
	h := &codec.MsgpackHandle{WriteExt: true}
	var b []byte
	var in interface{} = map[string]string{"ova": "/o/x.ova", "qcow2": "/o/x.qcow2"}
	if err := codec.NewEncoderBytes(&b, h).Encode(in); err != nil {
		t.Fatal(err)
	}
	var out interface{}
	if err := codec.NewDecoderBytes(b, h).Decode(&out); err != nil {
		t.Fatal(err)
	}
	got := filesByFormat(out)
	if len(got) != 2 || got["ova"] != "/o/x.ova" || got["qcow2"] != "/o/x.qcow2" {
		t.Fatalf("files_by_format across msgpack: %T %v -> %v", out, out, got)
	}
}

// TestRawWorkingCopyNotProbed: a builder's raw working copy whose first sector the guest
// filled with a qcow2 (or VMDK) header is still read as raw, byte for byte, by the imports
// (LocalImageFor) and by chromogenic-convert (LocalImage). Before, the content probe read it
// as the qcow2 image the guest described.
func TestRawWorkingCopyNotProbed(t *testing.T) {
	dir := t.TempDir()
	for _, format := range []string{"qcow2", "vmdk"} {
		p := filepath.Join(dir, "working."+format+".raw")
		var err error
		if format == "qcow2" {
			err = diskimagetest.Qcow2(p, 1<<30, diskimagetest.Honest, 'g')
		} else {
			err = diskimagetest.VMDK(p, 1<<30, 128, diskimagetest.Honest, 'g')
		}
		if err != nil {
			t.Fatal(err)
		}
		if probed, _ := probe(p); probed != format {
			t.Fatalf("the test file probes as %q, want %s", probed, format)
		}
		want, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		a := &testArtifact{byFmt: map[string]string{"raw": p}, first: "raw"}
		in, err := LocalImageFor(a, ImportFormats)
		if err != nil {
			t.Fatalf("%s: LocalImageFor: %v", format, err)
		}
		path, f, err := LocalImage(a)
		if err != nil || path != p || f != "raw" {
			t.Fatalf("%s: LocalImage = %s, %s, %v; want %s, raw", format, path, f, err, p)
		}
		for _, open := range []func() (diskimage.Image, error){in.Open, func() (diskimage.Image, error) { return diskimage.OpenFormat(path, f) }} {
			img, err := open()
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, img.Size())
			_, rerr := img.ReadAt(got, 0)
			img.Close()
			if img.Format() != "raw" || rerr != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: read as %s (%d bytes, %v), want the file's %d bytes as raw", format, img.Format(), len(got), rerr, len(want))
			}
		}
	}
}
