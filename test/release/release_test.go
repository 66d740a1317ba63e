// Package release checks the release configuration the way a release uses it: goreleaser (the
// version tools/goreleaser pins) accepts .goreleaser.yml, a snapshot release writes one zip per
// platform named as `packer init` looks them up, with a SHA256SUMS that matches, and the real
// packer installs the linux/amd64 binary with `packer plugins install --path`. It trusts
// nothing but the files goreleaser and packer write.
package release

import (
	"archive/zip"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

const (
	project = "packer-plugin-chromogenic"
	plugin  = "github.com/chromogenic/chromogenic"
)

// platforms are the archives a release must hold (packer init on each of them).
var platforms = []string{"linux_amd64", "linux_arm64", "darwin_amd64", "darwin_arm64", "windows_amd64", "windows_arm64"}

func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("%s %s: %s", filepath.Base(name), strings.Join(args, " "), time.Since(start).Round(time.Second))
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// describe returns the api_version and version a plugin binary reports.
func describe(t *testing.T, bin string) (api, version string) {
	t.Helper()
	out, err := exec.Command(bin, "describe").Output()
	if err != nil {
		t.Fatalf("%s describe: %v", bin, err)
	}
	var d struct {
		Version    string `json:"version"`
		APIVersion string `json:"api_version"`
	}
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatalf("%s describe: %v\n%s", bin, err, out)
	}
	return d.APIVersion, d.Version
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestSnapshotReleaseInstallsWithPacker(t *testing.T) {
	testtier.Acceptance(t, "goreleaser (built from the Go module proxy) and the real packer binary")
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the release is cut on linux/amd64 (plugin-check runs the linux/amd64 binary)")
	}
	packer, err := exec.LookPath("packer")
	if err != nil {
		t.Fatal("packer not on PATH (make test puts the pinned one there):", err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	gr := strings.TrimSpace(run(t, root, nil, "bash", "scripts/get-goreleaser.sh"))
	gr = gr[strings.LastIndex(gr, "\n")+1:]

	// API_VERSION as the release workflow derives it: from the plugin's own describe.
	tmp := t.TempDir()
	dev := filepath.Join(tmp, "describe", project)
	run(t, root, []string{"CGO_ENABLED=0"}, "go", "build", "-o", dev, ".")
	api, _ := describe(t, dev)
	if !regexp.MustCompile(`^x\d+\.\d+$`).MatchString(api) {
		t.Fatalf("describe api_version = %q, want x<major>.<minor>", api)
	}
	env := []string{"API_VERSION=" + api}

	run(t, root, env, gr, "check")

	// The snapshot writes into a temporary dist: the same configuration with dist moved.
	cfg, err := os.ReadFile(filepath.Join(root, ".goreleaser.yml"))
	if err != nil {
		t.Fatal(err)
	}
	dist := filepath.Join(tmp, "dist")
	snapCfg := filepath.Join(tmp, "goreleaser.yml")
	if err := os.WriteFile(snapCfg, append(cfg, []byte("\ndist: "+dist+"\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, root, env, gr, "release", "--snapshot", "--clean", "--skip=sign,publish", "--config", snapCfg)

	// One zip per platform, named packer-plugin-chromogenic_v<version>_<api>_<os>_<arch>.zip,
	// each holding the binary of the same name (.exe on windows); SHA256SUMS lists each.
	entries, err := os.ReadDir(dist)
	if err != nil {
		t.Fatal(err)
	}
	zipName := regexp.MustCompile(`^` + project + `_v(\d+\.\d+\.\d+-dev)_` + regexp.QuoteMeta(api) + `_([a-z0-9]+_[a-z0-9]+)\.zip$`)
	zips := map[string]string{}
	var version, sums string
	for _, e := range entries {
		if m := zipName.FindStringSubmatch(e.Name()); m != nil {
			zips[m[2]] = e.Name()
			if version != "" && version != m[1] {
				t.Fatalf("archives of two versions: %s and %s", version, m[1])
			}
			version = m[1]
		}
		if strings.HasSuffix(e.Name(), "_SHA256SUMS") {
			sums = e.Name()
		}
	}
	for _, p := range platforms {
		if zips[p] == "" {
			names := make([]string, 0, len(entries))
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Fatalf("no archive for %s in %s: %v", p, dist, names)
		}
	}
	if want := project + "_v" + version + "_SHA256SUMS"; sums != want {
		t.Fatalf("checksum file %q, want %q", sums, want)
	}
	listed := map[string]string{}
	f, err := os.Open(filepath.Join(dist, sums))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) == 2 {
			listed[fs[1]] = fs[0]
		}
	}
	f.Close()
	for p, name := range zips {
		if got, want := listed[name], sha256File(t, filepath.Join(dist, name)); got != want {
			t.Errorf("%s: SHA256SUMS says %q, the file is %s", name, got, want)
		}
		bin := strings.TrimSuffix(name, ".zip")
		if strings.HasPrefix(p, "windows_") {
			bin += ".exe"
		}
		zr, err := zip.OpenReader(filepath.Join(dist, name))
		if err != nil {
			t.Fatal(err)
		}
		var inside []string
		for _, zf := range zr.File {
			inside = append(inside, zf.Name)
		}
		zr.Close()
		sort.Strings(inside)
		if len(inside) != 1 || inside[0] != bin {
			t.Errorf("%s holds %v, want only %s", name, inside, bin)
		}
	}

	// packer plugins install --path takes the linux/amd64 binary out of its zip.
	zr, err := zip.OpenReader(filepath.Join(dist, zips["linux_amd64"]))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(tmp, "unzipped", zr.File[0].Name)
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	rc, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, rc); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	out.Close()
	zr.Close()
	if gotAPI, gotVersion := describe(t, bin); gotAPI != api || gotVersion != version {
		t.Fatalf("released binary describes %s %s, its archive is named %s %s", gotVersion, gotAPI, "v"+version, api)
	}
	pluginPath := filepath.Join(tmp, "plugins")
	penv := []string{"PACKER_PLUGIN_PATH=" + pluginPath, "CHECKPOINT_DISABLE=1"}
	run(t, tmp, penv, packer, "plugins", "install", "--path", bin, plugin)
	installed := filepath.Join(pluginPath, "github.com", "chromogenic", "chromogenic", project+"_v"+version+"_"+api+"_linux_amd64")
	if got, want := sha256File(t, installed), sha256File(t, bin); got != want {
		t.Fatalf("installed %s is not the released binary", installed)
	}
	if b, err := os.ReadFile(installed + "_SHA256SUM"); err != nil || strings.TrimSpace(string(b)) != sha256File(t, bin) {
		t.Fatalf("%s_SHA256SUM: %q, %v", installed, b, err)
	}
	if list := run(t, tmp, penv, packer, "plugins", "installed"); !strings.Contains(list, installed) {
		t.Fatalf("packer plugins installed does not list %s:\n%s", installed, list)
	}
}
