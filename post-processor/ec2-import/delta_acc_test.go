package ec2import

import (
	_ "embed"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

//go:embed test-fixtures/import-delta.pkr.hcl
var deltaTemplate string

// TestAccEC2ImportDelta: an image pushed in full writes the record of its push (the snapshot,
// the image, the block map pushed); the image provisioned again and pushed with that record
// as base_provenance is a delta push onto the first snapshot: few blocks written, and the
// new snapshot read back through the emulator holds exactly the new working copy's bytes.
func TestAccEC2ImportDelta(t *testing.T) {
	testtier.Acceptance(t, "packer builds against the EC2 emulator")
	env := packertest.Setup(t)
	srv := ec2emu.Start(t)
	isolateAWS(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "source.raw")
	packertest.CopySparse(t, testimages.Sample(t), src)
	build := func(name, base string) (*packertest.Result, string) {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(d, "out")
		res := env.MustBuild(t, d, deltaTemplate, 15*time.Minute,
			"-var", "source_path="+src, "-var", "output_directory="+out, "-var", "region="+srv.Region,
			"-var", "ec2_endpoint="+srv.EC2Endpoint, "-var", "ebs_endpoint="+srv.EBSEndpoint,
			"-var", "access_key="+srv.AccessKeyID, "-var", "secret_key="+srv.SecretAccessKey,
			"-var", "ami_name=acc-delta-"+name, "-var", "marker=marker-"+name, "-var", "base_provenance="+base)
		return res, out
	}
	res, out1 := build("first", "")
	recs, _ := filepath.Glob(filepath.Join(out1, "*"+pushSuffix))
	if len(recs) != 1 {
		t.Fatalf("push records in %s: %v\n%s", out1, recs, res.Output)
	}
	rec1, err := provenance.Read(recs[0])
	if err != nil {
		t.Fatal(err)
	}
	first, err := pushedBase(rec1)
	if err != nil || first.Region != srv.Region {
		t.Fatalf("first push record: %+v %v", first, err)
	}
	full := blocksWritten(t, res.Output)
	base := filepath.Join(dir, "first-push.json")
	b, _ := os.ReadFile(recs[0])
	os.WriteFile(base, b, 0o644)

	res, out2 := build("second", base)
	if !strings.Contains(res.Output, "as a delta onto "+first.ID) {
		t.Fatalf("not a delta push onto %s:\n%s", first.ID, res.Output)
	}
	delta := blocksWritten(t, res.Output)
	if delta == 0 || delta*10 > full {
		t.Errorf("delta push wrote %d blocks, the full push %d", delta, full)
	}
	recs, _ = filepath.Glob(filepath.Join(out2, "*"+pushSuffix))
	rec2, err := provenance.Read(recs[0])
	if err != nil {
		t.Fatal(err)
	}
	second, _ := pushedBase(rec2)
	if rec2.Base != base || second.ID == first.ID {
		t.Errorf("second record: base %q, snapshot %s", rec2.Base, second.ID)
	}
	info, _ := srv.Snapshot(second.ID)
	if info.ParentID != first.ID {
		t.Errorf("snapshot %s: parent %q, want %s", second.ID, info.ParentID, first.ID)
	}
	got := checkSnapshotIsWorkingCopy(t, srv, second.ID, out2, dir)
	files := packertest.GuestFiles(t, got, "/etc/chromogenic-delta-marker")
	if string(files["/etc/chromogenic-delta-marker"]) != "marker-second\n" {
		t.Errorf("marker in the delta snapshot: %q", files["/etc/chromogenic-delta-marker"])
	}
}

func blocksWritten(t *testing.T, out string) int {
	t.Helper()
	m := regexp.MustCompile(`Pushed (?:in full|as a delta onto snap-\w+) \((\d+) blocks written\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no push figures:\n%s", out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
