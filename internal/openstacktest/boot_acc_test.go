package openstacktest

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

// TestAccBootToLoginFails: a guest that never shows a login prompt fails the check, and the
// failure carries what the guest printed on its serial console (tiny-image.py's MBR program
// prints a marker and halts), which proves the console log is read.
func TestAccBootToLoginFails(t *testing.T) {
	testtier.Acceptance(t, "a guest boot on the all-in-one OpenStack cloud")
	a := Connect(t, "aio-a")
	raw := filepath.Join(t.TempDir(), "tiny.raw")
	if out, err := exec.Command("python3", filepath.Join(testimages.RepoRoot(), "test/openstack-aio/tiny-image.py"), raw).CombinedOutput(); err != nil {
		t.Fatalf("tiny-image.py: %v\n%s", err, out)
	}
	name := fmt.Sprintf("acc-boot-tiny-%d", time.Now().UnixNano())
	img := UploadImage(t, a, name, raw, "raw")
	r := bootToLogin(context.Background(), a, name, img.ID, 2*time.Minute)
	if r.err == nil {
		t.Fatalf("a guest without a getty reached a login prompt; console:\n%s", r.console)
	}
	if !strings.Contains(r.err.Error(), "no login prompt") || !strings.Contains(r.err.Error(), "CHROMOGENIC-AIO-BOOT-OK") {
		t.Errorf("error does not say so with the console's tail: %v", r.err)
	}
	t.Log(r.err)
}
