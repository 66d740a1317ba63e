package convert

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/ova"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
)

// An artifact of two disks (image_paths): qcow2 gets a file per disk (<name>.qcow2,
// <name>-disk2.qcow2, each with its checksum file, each equal to its disk), the OVA is one
// appliance of both; files_by_format names the boot disk's files, image_paths the first
// format's files in disk order, and Files lists everything written.
func TestConvertSeveralDisks(t *testing.T) {
	dir := t.TempDir()
	disks := []string{filepath.Join(dir, "w.raw"), filepath.Join(dir, "w-disk2.raw")}
	for i, d := range disks {
		b := make([]byte, (2+i)<<20)
		copy(b[4096:], bytes.Repeat([]byte{byte('a' + i)}, 8192))
		if err := os.WriteFile(d, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	in := artifact.New("chromogenic.local", disks[0], new(multistep.BasicStateBag))
	in.AddDisks(disks[1])
	if got := in.Files(); len(got) != 2 || got[1] != disks[1] {
		t.Fatalf("input files %v", got)
	}
	out := filepath.Join(dir, "out")
	var p PostProcessor
	if err := p.Configure(map[string]interface{}{"formats": []string{"qcow2", "ova"}, "output_directory": out,
		"file_name": "multi", "checksum_types": []string{"sha256"}}); err != nil {
		t.Fatal(err)
	}
	art, _, _, err := p.PostProcess(context.Background(), packersdk.TestUi(t), in)
	if err != nil {
		t.Fatal(err)
	}
	q1, q2, o := filepath.Join(out, "multi.qcow2"), filepath.Join(out, "multi-disk2.qcow2"), filepath.Join(out, "multi.ova")
	want := []string{q1, q1 + ".sha256", q2, q2 + ".sha256", o, o + ".sha256", q1 + ".provenance.json"}
	if got := art.Files(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("files %v, want %v", got, want)
	}
	// The record lists every file with its disk: both qcow2 files, the OVA holding both.
	rec, err := provenance.Read(q1 + ".provenance.json")
	if err != nil {
		t.Fatal(err)
	}
	var outs []string
	for _, o := range rec.Outputs {
		outs = append(outs, fmt.Sprintf("%s:%s:%d", filepath.Base(o.Path), o.Format, o.Disk))
	}
	if strings.Join(outs, " ") != "multi.qcow2:qcow2:0 multi-disk2.qcow2:qcow2:1 multi.ova:ova:0" {
		t.Errorf("record outputs %v", outs)
	}
	if fb := art.State("files_by_format").(map[string]string); fb["qcow2"] != q1 || fb["ova"] != o {
		t.Errorf("files_by_format %v", fb)
	}
	if ip, _ := art.State(artifact.ImagePaths).([]string); strings.Join(ip, " ") != q1+" "+q2 {
		t.Errorf("image_paths %v, want %s %s", ip, q1, q2)
	}
	for i, q := range []string{q1, q2} {
		if b, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", "qcow2", disks[i], q).CombinedOutput(); err != nil {
			t.Errorf("qemu-img compare %s %s: %v\n%s", disks[i], q, err, b)
		}
	}
	a, err := ova.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if len(a.Disks) != 2 || a.Disks[0].Capacity != 2<<20 || a.Disks[1].Capacity != 3<<20 {
		t.Errorf("OVA disks %+v, want 2 and 3 MiB", a.Disks)
	}
}
