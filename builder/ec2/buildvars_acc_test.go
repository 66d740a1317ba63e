package ec2

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

//go:embed test-fixtures/buildvars.pkr.hcl
var buildVarsTemplate string

// TestAccEC2BuildVars captures an instance of the emulator (every variable applies): a
// template using every build variable the docs list validates, and the provisioner and the
// post-processor see the right values.
func TestAccEC2BuildVars(t *testing.T) {
	packertest.AccOnly(t)
	env := packertest.Setup(t)
	srv := emulator(t)
	iid, err := srv.AddInstance(ec2emu.Instance{Name: "vars", RootDisk: sampleCopy(t)})
	if err != nil {
		t.Fatal(err)
	}
	vars := packertest.DocBuildVars(t, "ec2")
	tpl := strings.NewReplacer("@PROV@", packertest.BuildVarsEcho("prov", vars),
		"@POST@", packertest.BuildVarsEcho("post", vars)).Replace(buildVarsTemplate)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	name := fmt.Sprintf("acc-vars-%d", time.Now().UnixNano())
	args := buildArgs(srv, dir, "instance_id", iid, "ami_name", name)
	if o, err := env.Validate(t, dir, tpl, args...); err != nil {
		t.Fatalf("packer validate: %v\n%s", err, o)
	}
	res := env.MustBuild(t, dir, tpl, 15*time.Minute, args...)
	made := imageByName(t, srv, name)
	if made == nil {
		t.Fatalf("AMI %s not registered:\n%s", name, res.Output)
	}
	ami, snap := aws.ToString(made.ImageId), aws.ToString(made.BlockDeviceMappings[0].Ebs.SnapshotId)

	prov := packertest.BuildVarsPrinted(res.Output, "prov")
	inter, interSnap, dev := prov["IntermediateAMI"], prov["SourceSnapshot"], prov["Device"]
	if !strings.HasPrefix(inter, "ami-") || inter == ami || !strings.HasPrefix(interSnap, "snap-") || interSnap == snap {
		t.Fatalf("provisioner: IntermediateAMI %q SourceSnapshot %q (new AMI %s, snapshot %s)", inter, interSnap, ami, snap)
	}
	if ids := srv.ImageIDs(); slices.Contains(ids, inter) {
		t.Errorf("build.IntermediateAMI %s is still there: %v", inter, ids)
	}
	if !strings.HasPrefix(dev, "/dev/loop") {
		t.Errorf("provisioner: build.Device = %q", dev)
	}
	want := map[string]string{
		"SourceAMI": inter, "SourceSnapshot": interSnap, "IntermediateAMI": inter, "SnapshotID": "", "ImageID": "",
		"MountPath": filepath.Join(out, "mnt"), "Device": dev, "WorkingImage": filepath.Join(out, "vars.raw"),
	}
	check := func(tag string) {
		got := packertest.BuildVarsPrinted(res.Output, tag)
		for _, v := range vars {
			w, ok := want[v]
			if !ok {
				t.Errorf("build.%s is documented but this test does not check it", v)
			} else if g, printed := got[v]; !printed || g != w {
				t.Errorf("%s: build.%s = %q (printed %v), want %q", tag, v, g, printed, w)
			}
		}
	}
	check("prov")
	want["SnapshotID"], want["ImageID"] = snap, ami // known once registered
	check("post")
	if _, err := os.Stat(filepath.Join(out, "export", "ami-of-"+inter+"-is-"+ami+".qcow2")); err != nil {
		t.Errorf("chromogenic-convert output named from build.SourceAMI and build.ImageID: %v", err)
	}
}
