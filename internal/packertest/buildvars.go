package packertest

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

var docVar = regexp.MustCompile("^- `([A-Za-z][A-Za-z0-9]*)` - ")

// DocBuildVars returns the build variables docs/builders/<name>.mdx lists under
// "## Build variables", one "- `Name` - description" item each, sorted.
func DocBuildVars(t testing.TB, name string) []string {
	t.Helper()
	p := filepath.Join(testimages.RepoRoot(), "docs", "builders", name+".mdx")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Build variables\n")
	if !ok {
		t.Fatalf("%s has no \"## Build variables\" section", p)
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	var vars []string
	for _, line := range strings.Split(section, "\n") {
		if m := docVar.FindStringSubmatch(line); m != nil {
			vars = append(vars, m[1])
		}
	}
	if len(vars) == 0 {
		t.Fatalf("%s lists no build variable as \"- `Name` - description\"", p)
	}
	slices.Sort(vars)
	return vars
}

// CheckBuildVars compares the build variables a builder declares with those its docs list.
func CheckBuildVars(t testing.TB, docName string, declared []string) {
	t.Helper()
	doc := DocBuildVars(t, docName)
	got := slices.Clone(declared)
	slices.Sort(got)
	if !slices.Equal(got, doc) {
		t.Errorf("build variables: the builder declares %v, docs/builders/%s.mdx lists %v", got, docName, doc)
	}
}

// BuildVarsEcho is a shell command that prints each build variable as "<tag>.<Name>=<value>"
// on a line of its own, for shell-local provisioners and post-processors.
func BuildVarsEcho(tag string, vars []string) string {
	var parts []string
	for _, v := range vars {
		parts = append(parts, "echo '"+tag+"."+v+"=${build."+v+"}'")
	}
	return strings.Join(parts, " && ")
}

// BuildVarsPrinted reads back the values BuildVarsEcho printed in a build's output (the last
// value of each variable wins).
func BuildVarsPrinted(output, tag string) map[string]string {
	got := map[string]string{}
	re := regexp.MustCompile(regexp.QuoteMeta(tag) + `\.([A-Za-z0-9]+)=(.*)$`)
	for _, line := range strings.Split(output, "\n") {
		if m := re.FindStringSubmatch(strings.TrimRight(line, "\r")); m != nil {
			got[m[1]] = m[2]
		}
	}
	return got
}

// Validate writes template to dir/template.pkr.hcl and runs `packer validate` on it with args;
// it returns packer's output and error.
func (e *Env) Validate(t testing.TB, dir, template string, args ...string) (string, error) {
	t.Helper()
	tpl := filepath.Join(dir, "template.pkr.hcl")
	if err := os.WriteFile(tpl, []byte(template), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := e.Command(dir, append(append([]string{"validate"}, args...), tpl)...).CombinedOutput()
	return string(out), err
}

// AccOnly skips the test unless PACKER_ACC=1 (testtier.Acceptance).
func AccOnly(t testing.TB) {
	t.Helper()
	testtier.Acceptance(t, "a packer build")
}
