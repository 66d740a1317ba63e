package migration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2/bundle"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
)

// usageLine is an example's documented command: a comment line with "packer build -var ...".
var usageLine = regexp.MustCompile(`(?m)^#.*\bpacker build (.*)$`)

// diskArg is a -var value naming a disk image file.
var diskArg = regexp.MustCompile(`\.(raw|qcow2|vmdk|vhd|img)$`)

// exampleVars are the -var arguments `packer validate` runs an example with: those of the
// example's documented `packer build` command line, where any disk image it names is a small
// placeholder file in dir, and overrides for examples whose command line names no real file.
// It also returns the values of the *cloud variables: OpenStack cloud names, which validation
// looks up in clouds.yaml.
func exampleVars(t *testing.T, name, text, dir string) (args, clouds []string) {
	t.Helper()
	placeholder := func(base string) string {
		p := filepath.Join(dir, filepath.Base(base))
		if err := os.WriteFile(p, make([]byte, 1<<20), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if m := usageLine.FindStringSubmatch(text); m != nil {
		f := strings.Fields(m[1])
		for i := 0; i+1 < len(f); i++ {
			if f[i] != "-var" {
				continue
			}
			k, v, _ := strings.Cut(f[i+1], "=")
			if diskArg.MatchString(v) {
				v = placeholder(v)
			}
			if strings.HasSuffix(k, "cloud") {
				clouds = append(clouds, v)
			}
			if k == "keys_dir" { // Eucalyptus user key and cert, read in Prepare
				v = eucaKeys(t, dir)
			}
			args = append(args, "-var", k+"="+v)
			i++
		}
	}
	switch name {
	case "local.pkr.hcl": // documented as source_path=IMAGE
		args = append(args, "-var", "source_path="+placeholder("image.raw"))
	}
	return args, clouds
}

// eucaKeys writes a real (throw-away) Eucalyptus user key and certificate into dir, named as
// euca2ools names them, and returns dir.
func eucaKeys(t *testing.T, dir string) string {
	t.Helper()
	id, err := bundle.NewIdentity("examples")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"euca-pk.pem": id.KeyPEM, "euca-cert.pem": id.CertPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// placeholderClouds writes a clouds.yaml naming the given clouds (never contacted: validation
// only resolves them).
func placeholderClouds(t *testing.T, dir string, names []string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("clouds:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %s:\n    auth:\n      auth_url: https://keystone.invalid:5000/v3\n      username: demo\n      password: secret\n      project_name: demo\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: RegionOne\n", n)
	}
	p := filepath.Join(dir, "clouds.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAccExamplesValidate runs `packer validate` on every example/*.pkr.hcl with this
// checkout's plugin installed, with the variables of the example's documented command line,
// so the templates stay valid as the plugin's configuration changes. Every example documents
// its command line; every migrate-* example is listed in docs/migrations.md.
func TestAccExamplesValidate(t *testing.T) {
	accOnly(t)
	env := packertest.Setup(t)
	root := testimages.RepoRoot()
	paths, _ := filepath.Glob(filepath.Join(root, "example", "*.pkr.hcl"))
	if len(paths) < 5 {
		t.Fatalf("examples: %v", paths)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "migrations.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		name := filepath.Base(p)
		t.Run(strings.TrimSuffix(name, ".pkr.hcl"), func(t *testing.T) {
			text, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !usageLine.Match(text) {
				t.Errorf("%s documents no `# packer build ...` command line", name)
			}
			if strings.HasPrefix(name, "migrate-") && !strings.Contains(string(doc), "example/"+name) {
				t.Errorf("docs/migrations.md does not list example/%s", name)
			}
			dir := t.TempDir()
			vars, clouds := exampleVars(t, name, string(text), dir)
			args := append([]string{"validate"}, vars...)
			cmd := env.Command(dir, append(args, p)...)
			cmd.Env = append(cmd.Env, "OS_CLIENT_CONFIG_FILE="+placeholderClouds(t, dir, clouds))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("packer %s: %v\n%s", strings.Join(append(args, name), " "), err, out)
			}
			if !strings.Contains(string(out), "The configuration is valid") {
				t.Errorf("packer validate %s: %s", name, out)
			}
		})
	}
}
