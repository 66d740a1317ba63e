package openstackimage

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/openstacktest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

//go:embed test-fixtures/template.pkr.hcl
var accTemplate string

// TestAccOpenStackImageDatasource uploads two images with a common prefix and looks the newest
// up by regex through the real packer binary.
func TestAccOpenStackImageDatasource(t *testing.T) {
	testtier.Acceptance(t, "a packer build against the all-in-one OpenStack cloud")
	env := packertest.Setup(t)
	clouds := openstacktest.CloudsFile(t)
	a := openstacktest.Connect(t, "aio-a")
	dir := t.TempDir()
	disk := filepath.Join(dir, "tiny.raw")
	os.WriteFile(disk, make([]byte, 1<<20), 0o644)
	prefix := fmt.Sprintf("acc-ds-%d", time.Now().UnixNano())
	openstacktest.UploadImage(t, a, prefix+"-old", disk, "raw")
	time.Sleep(1100 * time.Millisecond) // created_at has a one-second resolution
	newest := openstacktest.UploadImage(t, a, prefix+"-new", disk, "raw")

	res := env.MustBuild(t, dir, accTemplate, 10*time.Minute, "-var", "clouds_file="+clouds, "-var", "name_regex=^"+prefix+"-")
	if !strings.Contains(res.Output, "FOUND="+newest.ID+" FORMAT=raw") {
		t.Errorf("datasource did not return the newest image %s:\n%s", newest.ID, res.Output)
	}
}
