package local

import (
	_ "embed"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
)

//go:embed test-fixtures/buildvars.pkr.hcl
var buildVarsTemplate string

// TestAccLocalBuildVars: a template that uses every build variable the docs list validates,
// and a build prints the right values to a provisioner and to a post-processor.
func TestAccLocalBuildVars(t *testing.T) {
	packertest.AccOnly(t)
	env := packertest.Setup(t)
	vars := packertest.DocBuildVars(t, "local")
	tpl := strings.NewReplacer("@PROV@", packertest.BuildVarsEcho("prov", vars),
		"@POST@", packertest.BuildVarsEcho("post", vars)).Replace(buildVarsTemplate)
	dir := t.TempDir()
	src := filepath.Join(dir, "source.raw")
	packertest.CopySparse(t, testimages.Sample(t), src)
	out, mnt := filepath.Join(dir, "out"), filepath.Join(dir, "mnt")
	args := []string{"-var", "source_path=" + src, "-var", "output_directory=" + out, "-var", "mount_path=" + mnt}

	if o, err := env.Validate(t, dir, tpl, args...); err != nil {
		t.Fatalf("packer validate: %v\n%s", err, o)
	}
	res := env.MustBuild(t, dir, tpl, 10*time.Minute, args...)
	want := map[string]func(string) bool{
		"MountPath":    func(v string) bool { return v == mnt },
		"Device":       func(v string) bool { return strings.HasPrefix(v, "/dev/loop") },
		"WorkingImage": func(v string) bool { return v == filepath.Join(out, "vars.raw") },
	}
	for _, tag := range []string{"prov", "post"} {
		got := packertest.BuildVarsPrinted(res.Output, tag)
		for _, v := range vars {
			check, ok := want[v]
			if !ok {
				t.Errorf("build.%s is documented but this test does not check it", v)
			} else if !check(got[v]) {
				t.Errorf("%s: build.%s = %q", tag, v, got[v])
			}
		}
	}
	prov, post := packertest.BuildVarsPrinted(res.Output, "prov"), packertest.BuildVarsPrinted(res.Output, "post")
	if prov["Device"] != post["Device"] {
		t.Errorf("build.Device: provisioner saw %q, post-processor %q", prov["Device"], post["Device"])
	}
	// chromogenic-convert named its output with the variable.
	name := filepath.Join(out, "export", "dev-"+filepath.Base(post["Device"])+".qcow2")
	if _, err := os.Stat(name); err != nil {
		t.Errorf("chromogenic-convert output named from build.Device: %v\n%s", err, res.Output)
	}
}
