// Package docs checks the documentation against the tools it shows: every HCL example in the
// README, docs/ and example/ is formatted as `packer fmt` formats it, so a user who copies one
// copies canonical HCL.
package docs

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
)

// example is one fenced ```hcl block.
type example struct {
	file string
	line int
	text string
}

// hclBlocks returns the ```hcl blocks of a Markdown/MDX file.
func hclBlocks(t *testing.T, path string) []example {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []example
	var cur *example
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		trim := strings.TrimSpace(l)
		switch {
		case cur == nil && trim == "```hcl":
			cur = &example{file: path, line: n + 1}
		case cur != nil && trim == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += l + "\n"
		}
	}
	if cur != nil {
		t.Errorf("%s:%d: unterminated ```hcl block", path, cur.line)
	}
	return out
}

func docFiles(t *testing.T, root string) []string {
	t.Helper()
	files := []string{filepath.Join(root, "README.md")}
	err := filepath.WalkDir(filepath.Join(root, "docs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".md") || strings.HasSuffix(p, ".mdx")) {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestAccDocExamplesPackerFmt(t *testing.T) {
	env := packertest.Setup(t)
	root := testimages.RepoRoot()
	dir := t.TempDir()
	var checked []string // files handed to packer fmt, and where each came from
	from := map[string]string{}
	for _, f := range docFiles(t, root) {
		for i, ex := range hclBlocks(t, f) {
			name := filepath.Join(dir, strings.NewReplacer("/", "_", ".", "_").Replace(strings.TrimPrefix(f, root+"/"))+"_"+string(rune('a'+i%26))+itoa(i)+".pkr.hcl")
			if err := os.WriteFile(name, []byte(ex.text), 0o644); err != nil {
				t.Fatal(err)
			}
			checked = append(checked, name)
			from[name] = strings.TrimPrefix(ex.file, root+"/") + ":" + itoa(ex.line)
		}
	}
	examples, _ := filepath.Glob(filepath.Join(root, "example", "*.pkr.hcl"))
	for _, e := range examples {
		checked = append(checked, e)
		from[e] = strings.TrimPrefix(e, root+"/")
	}
	if len(checked) < 20 {
		t.Fatalf("found only %d HCL examples: the extraction is broken", len(checked))
	}
	for _, f := range checked {
		cmd := env.Command(dir, "fmt", "-check", "-diff", f)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%s is not as `packer fmt` writes it: %v\n%s", from[f], err, out)
		}
	}
	t.Logf("%d examples checked", len(checked))
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	for {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(b[n:])
		}
	}
}
