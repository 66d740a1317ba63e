package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDescriptorVMDKInput: `convert` and `info` read a monolithicFlat VMDK (a descriptor and
// its -flat.vmdk, made by qemu-img) given by the descriptor's path; info lists the extent
// file; a descriptor whose extent is missing fails naming it.
func TestDescriptorVMDKInput(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Fatal("qemu-img missing (apt-get install qemu-utils)")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	const size = 32<<20 + 512
	makeRaw(t, src, size)
	desc := filepath.Join(dir, "vm.vmdk")
	qemuImg(t, "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=monolithicFlat", src, desc)
	for _, c := range []struct{ out, format, qfmt string }{{"out.qcow2", "qcow2", "qcow2"}, {"out.vmdk", "vmdk", "vmdk"}} {
		out := filepath.Join(dir, c.out)
		cli(t, 0, "convert", desc, out, "-O", c.format)
		qemuImg(t, "compare", "-f", "raw", "-F", c.qfmt, src, out)
	}
	stdout, _ := cli(t, 0, "info", "--json", desc)
	var ii imageInfo
	if err := json.Unmarshal([]byte(stdout), &ii); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	flat := filepath.Join(dir, "vm-flat.vmdk")
	if ii.Format != "vmdk" || ii.Subformat != "monolithicFlat" || ii.VirtualSize != size || ii.DataBytes < 300000 ||
		len(ii.ExtentFiles) != 1 || ii.ExtentFiles[0].Name != flat || ii.ExtentFiles[0].FileSize != size {
		t.Errorf("info: %+v", ii)
	}
	stdout, _ = cli(t, 0, "info", desc)
	if !strings.Contains(stdout, "extent files: 1\n  "+flat+": 32 MiB") {
		t.Errorf("info text lacks the extent file:\n%s", stdout)
	}
	// The descriptor's extent renamed away: refused, naming the descriptor and the extent.
	if out, err := exec.Command("mv", flat, flat+".moved").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	_, stderr := cli(t, 1, "convert", desc, filepath.Join(dir, "x.raw"), "-O", "raw")
	if !strings.Contains(stderr, desc) || !strings.Contains(stderr, `"vm-flat.vmdk"`) {
		t.Errorf("missing extent: %s", stderr)
	}
}
