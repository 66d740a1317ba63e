package openstack

import (
	_ "embed"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/openstacktest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

//go:embed test-fixtures/base-provenance.pkr.hcl
var baseProvenanceTemplate string

// TestAccOpenStackBaseProvenance: two Glance images of one lineage (one name; the second is
// the first with a few scattered blocks changed) built in image mode. The first build (a
// provisioner writes into the working copy: its record lists those dirty blocks) is the base
// of the second, which downloads the second image whole but writes into a copy of the first
// working copy only the blocks that differ: exactly the changed and the dirty ones. Its working
// copy (mounted read-only, so left as downloaded) is byte-equal to the second image; its
// record names the base and maps the copy; the base is not written.
func TestAccOpenStackBaseProvenance(t *testing.T) {
	testtier.Acceptance(t, "packer builds against the all-in-one OpenStack cloud")
	env := packertest.Setup(t)
	clouds := openstacktest.CloudsFile(t)
	a := openstacktest.Connect(t, "aio-a")
	dir := t.TempDir()
	raw1, raw2 := filepath.Join(dir, "v1.raw"), filepath.Join(dir, "v2.raw")
	packertest.CopySparse(t, testimages.Sample(t), raw1)
	packertest.CopySparse(t, raw1, raw2)
	m1, err := provenance.Map(t.Context(), raw1)
	if err != nil {
		t.Fatal(err)
	}
	// Six 4 KiB pieces in blocks of zeros (free space) between 45% and 90% of the disk, each
	// with zeros either side.
	var changed []int64
	n := m1.Count()
	for b := n * 45 / 100; b < n*90/100 && len(changed) < 6; b += n / 16 {
		for c := b; c < b+n/32; c++ {
			if m1.Blocks[c-1] == "" && m1.Blocks[c] == "" && m1.Blocks[c+1] == "" {
				changed = append(changed, c)
				break
			}
		}
	}
	if len(changed) < 4 {
		t.Fatalf("only %d free blocks found to change", len(changed))
	}
	f, err := os.OpenFile(raw2, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	piece := make([]byte, 4096)
	rng := rand.New(rand.NewSource(18))
	for _, b := range changed {
		rng.Read(piece)
		if _, err := f.WriteAt(piece, b*provenance.BlockSize+8192); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	name := fmt.Sprintf("acc-lineage-%d", time.Now().UnixNano())
	upload := func(raw string) string {
		q := raw + ".qcow2"
		if out, err := exec.Command("qemu-img", "convert", "-O", "qcow2", raw, q).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img convert: %v %s", err, out)
		}
		return openstacktest.UploadImage(t, a, name, q, "qcow2").ID
	}
	img1, img2 := upload(raw1), upload(raw2)

	// The second build is mounted read-only, with nothing copied in and no provisioner: its
	// working copy stays as downloaded.
	roTemplate := regexp.MustCompile(`(?s)\n  provisioner "shell" \{.*?\n  \}\n`).ReplaceAllString(baseProvenanceTemplate, "\n")
	build := func(sub, tmpl string, kv ...string) (*packertest.Result, string) {
		d := filepath.Join(dir, sub)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		args := []string{"-var", "clouds_file=" + clouds, "-var", "output_directory=" + filepath.Join(d, "out")}
		for _, v := range kv {
			args = append(args, "-var", v)
		}
		return env.MustBuild(t, d, tmpl, 30*time.Minute, args...), filepath.Join(d, "out", "acc.raw")
	}
	_, wc1 := build("first", baseProvenanceTemplate, "source_image="+img1, "command=echo first > /root/base-marker")
	rec1Path := provenance.SidecarPath(wc1)
	rec1, err := provenance.Read(rec1Path)
	if err != nil {
		t.Fatal(err)
	}
	if rec1.Source.Image != img1 || rec1.Source.ImageName != name || len(rec1.Dirty) == 0 || rec1.WorkingCopy.Stamp == nil {
		t.Fatalf("first record: source %+v, %d dirty blocks, stamp %v", rec1.Source, len(rec1.Dirty), rec1.WorkingCopy.Stamp)
	}

	start := time.Now()
	res, wc2 := build("second", roTemplate, "source_image="+img2, "base_provenance="+rec1Path,
		`mount_options=["ro","noload"]`, "skip_trim=true", "copy_files=[]")
	t.Logf("second build (over the base) took %s", time.Since(start).Round(time.Second))
	mm := regexp.MustCompile(`Updated over the base \S+: (\d+) of (\d+) blocks written \((\d+) MiB`).FindStringSubmatch(res.Output)
	if mm == nil {
		t.Fatalf("no update line in the output:\n%s", res.Output)
	}
	written, total, _ := atoi(mm[1]), atoi(mm[2]), atoi(mm[3])
	want := map[int64]bool{}
	for _, b := range append(changed, rec1.Dirty...) {
		want[b] = true
	}
	if int64(total) != n || written != len(want) || written*20 > total {
		t.Errorf("%d of %d blocks written; want the %d changed or dirty of %d", written, total, len(want), n)
	}
	t.Logf("%s: %d changed in the image, %d dirty in the base", mm[0], len(changed), len(rec1.Dirty))
	if !packertest.SameBytes(t, wc2, raw2) {
		t.Error("the updated working copy differs from the second image")
	}
	rec2, err := provenance.Read(provenance.SidecarPath(wc2))
	if err != nil {
		t.Fatal(err)
	}
	if rec2.Base != rec1Path || rec2.Source.Image != img2 || len(rec2.Dirty) != 0 {
		t.Errorf("second record: base %q (want %s), source %+v, dirty %v", rec2.Base, rec1Path, rec2.Source, rec2.Dirty)
	}
	if err := rec2.WorkingCopy.Verify(t.Context(), wc2, nil); err != nil {
		t.Errorf("second record's map: %v", err)
	}
	if err := rec1.WorkingCopy.Unchanged(wc1); err != nil {
		t.Errorf("the base was written: %v", err)
	}
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }
