package main

import (
	"archive/tar"
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The tests build the real binary and run it.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "chromogenic-cli")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "chromogenic")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("go build: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func cli(t *testing.T, wantCode int, args ...string) (string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != wantCode {
		t.Fatalf("chromogenic %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, wantCode, stdout.String(), stderr.String())
	}
	return stdout.String(), stderr.String()
}

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
	rng := rand.New(rand.NewPCG(3, 4))
	for i, off := range []int64{0, 5<<20 + 4096, size - 100000} {
		b := make([]byte, 100000)
		for j := range b {
			if i == 1 {
				b[j] = "compressible "[j%13]
			} else {
				b[j] = byte(rng.Uint32())
			}
		}
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
}

func qemuImg(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("qemu-img", args...).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestConvert(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Fatal("qemu-img missing (apt-get install qemu-utils)")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	const size = 32<<20 + 512
	makeRaw(t, src, size)
	for _, c := range []struct {
		name, format, qfmt string
		args               []string
	}{
		{"plain.qcow2", "qcow2", "qcow2", nil},
		{"zstd.qcow2", "qcow2", "qcow2", []string{"-o", "compression=zstd,level=3,workers=2"}},
		{"zlib.qcow2", "qcow2", "qcow2", []string{"-o", "compression=zlib,cluster_size=4096"}},
		{"stream.vmdk", "vmdk", "vmdk", []string{"-o", "subformat=streamOptimized,adapter_type=ide"}},
		{"sparse.vmdk", "vmdk", "vmdk", []string{"-o", "subformat=monolithicSparse"}},
		{"dyn.vhd", "vpc", "vpc", nil},
		{"fixed.vhd", "vhd", "vpc", []string{"-o", "subformat=fixed,azure=on"}},
		{"dyn.vdi", "vdi", "vdi", nil},
		{"fixed.vdi", "vdi", "vdi", []string{"-o", "subformat=fixed"}},
		{"back.raw", "raw", "raw", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, c.name)
			// Flags after the positionals, as with qemu-img.
			_, stderr := cli(t, 0, append([]string{"convert", src, out, "-O", c.format, "--progress"}, c.args...)...)
			if !strings.Contains(stderr, "100/100%") {
				t.Errorf("no progress on stderr: %q", stderr)
			}
			if c.qfmt == "qcow2" || c.qfmt == "vmdk" || c.qfmt == "vdi" {
				qemuImg(t, "check", "-f", c.qfmt, out)
			}
			qemuImg(t, "compare", "-f", "raw", "-F", c.qfmt, src, out)
			stdout, _ := cli(t, 0, "info", "--json", out)
			var ii imageInfo
			if err := json.Unmarshal([]byte(stdout), &ii); err != nil {
				t.Fatalf("%v\n%s", err, stdout)
			}
			wantFmt := map[string]string{"vpc": "vhd"}[c.qfmt]
			if wantFmt == "" {
				wantFmt = c.qfmt
			}
			if ii.Format != wantFmt || ii.VirtualSize < size || ii.VirtualSize > size+2<<20 || ii.DataBytes < 300000 || len(ii.Extents) == 0 {
				t.Errorf("info: %+v", ii)
			}
			if wantSub := map[string]string{"dyn.vdi": "dynamic", "fixed.vdi": "fixed"}[c.name]; wantSub != ii.Subformat && wantSub != "" {
				t.Errorf("info subformat %q, want %q", ii.Subformat, wantSub)
			}
			if c.qfmt == "qcow2" && (ii.Qcow2 == nil || ii.Qcow2.Version != 3) {
				t.Errorf("info qcow2: %+v", ii.Qcow2)
			}
		})
	}

	t.Run("from-vhdx", func(t *testing.T) {
		// A Hyper-V disk in, detected from its content.
		in := filepath.Join(dir, "hyperv.vhdx")
		qemuImg(t, "convert", "-f", "raw", "-O", "vhdx", "-o", "block_size=1M", src, in)
		out := filepath.Join(dir, "from-vhdx.qcow2")
		cli(t, 0, "convert", in, out, "-O", "qcow2")
		qemuImg(t, "compare", "-f", "raw", "-F", "qcow2", src, out)
		stdout, _ := cli(t, 0, "info", "--json", in)
		var ii imageInfo
		if err := json.Unmarshal([]byte(stdout), &ii); err != nil || ii.Format != "vhdx" || ii.Subformat != "dynamic" || ii.VirtualSize != size {
			t.Errorf("info: %v %+v", err, ii)
		}
	})

	t.Run("info-text", func(t *testing.T) {
		stdout, _ := cli(t, 0, "info", filepath.Join(dir, "zstd.qcow2"))
		for _, want := range []string{"file format: qcow2", "virtual size: 32 MiB (33554944 bytes)", "compression zstd", "data"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("info output lacks %q:\n%s", want, stdout)
			}
		}
	})

	t.Run("stdout", func(t *testing.T) {
		out := filepath.Join(dir, "piped.qcow2")
		f, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(binary, "convert", "-O", "qcow2", src, "-")
		var stderr strings.Builder
		cmd.Stdout, cmd.Stderr = f, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%v %s", err, stderr.String())
		}
		f.Close()
		qemuImg(t, "check", "-f", "qcow2", out)
		qemuImg(t, "compare", "-f", "raw", "-F", "qcow2", src, out)
		cli(t, 1, "convert", "-O", "qcow2", "-o", "compression=zlib", src, "-")
	})

	t.Run("ova", func(t *testing.T) {
		osr := filepath.Join(dir, "os-release")
		os.WriteFile(osr, []byte("ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"), 0o644)
		out := filepath.Join(dir, "vm.ova")
		cli(t, 0, "convert", src, out, "-O", "ova", "-o", "name=vm,cpus=2,memory=512,firmware=efi,hash=sha1,os_release="+osr)
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		tr := tar.NewReader(f)
		var names []string
		var ovfText []byte
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, h.Name)
			if strings.HasSuffix(h.Name, ".ovf") {
				ovfText, _ = io.ReadAll(tr)
			}
		}
		if strings.Join(names, " ") != "vm.ovf vm-disk1.vmdk vm.mf" {
			t.Errorf("members %v", names)
		}
		for _, want := range []string{`ovf:id="96"`, "Debian_64", `vmw:value="efi"`, "<rasd:VirtualQuantity>512</rasd:VirtualQuantity>"} {
			if !strings.Contains(string(ovfText), want) {
				t.Errorf("descriptor lacks %s", want)
			}
		}

		// info: format ova and its disk, in JSON and text.
		stdout, _ := cli(t, 0, "info", "--json", out)
		var ii imageInfo
		if err := json.Unmarshal([]byte(stdout), &ii); err != nil {
			t.Fatalf("%v\n%s", err, stdout)
		}
		if ii.Format != "ova" || len(ii.Disks) != 1 || ii.VirtualSize != size || strings.Join(ii.Members, " ") != "vm.ovf vm-disk1.vmdk vm.mf" {
			t.Fatalf("info --json: %s", stdout)
		}
		if d := ii.Disks[0]; d.Name != "vm-disk1.vmdk" || d.DiskID != "vmdisk1" || d.Format != "vmdk" || d.Subformat != "streamOptimized" ||
			d.VirtualSize != size || d.DataBytes < 300000 || d.FileSize <= 0 || d.Error != "" {
			t.Errorf("info disk: %+v", d)
		}
		stdout, _ = cli(t, 0, "info", out)
		for _, want := range []string{"file format: ova", "disks: 1", "vm-disk1.vmdk: disk vmdisk1, format vmdk (streamOptimized), virtual size 32 MiB (33554944 bytes)"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("info output lacks %q:\n%s", want, stdout)
			}
		}
		// convert reads the appliance's disk.
		back := filepath.Join(dir, "from-ova.qcow2")
		cli(t, 0, "convert", out, back, "-O", "qcow2")
		qemuImg(t, "compare", "-f", "raw", "-F", "qcow2", src, back)
		// Read as raw only when asked.
		stdout, _ = cli(t, 0, "info", "--json", "-f", "raw", out)
		if err := json.Unmarshal([]byte(stdout), &ii); err != nil || ii.Format != "raw" {
			t.Errorf("info -f raw: %v %s", err, stdout)
		}
	})

	t.Run("errors", func(t *testing.T) {
		cli(t, 2, "convert", src)
		cli(t, 2, "convert", src, filepath.Join(dir, "x"))
		cli(t, 2, "convert", src, filepath.Join(dir, "x"), "-O", "qcow2", "-o", "bogus=1")
		cli(t, 2, "convert", src, filepath.Join(dir, "x"), "-O", "qcow2", "-o", "cpus=2")
		cli(t, 1, "convert", src, filepath.Join(dir, "x"), "-O", "qed")
		cli(t, 1, "convert", filepath.Join(dir, "missing"), filepath.Join(dir, "x"), "-O", "raw")
		cli(t, 1, "info", filepath.Join(dir, "missing"))
		cli(t, 2, "frobnicate")
		cli(t, 0, "help")
	})
}
