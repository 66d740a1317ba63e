//go:build linux

package bootable

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
)

// v2vComplaint matches what virt-v2v prints when it cannot finish a conversion properly: an
// error, a warning, or a bootloader it did not find.
var v2vComplaint = regexp.MustCompile(`(?mi)^virt-v2v: (error|warning)\b|no bootloader detected`)

// v2vDebianGrub is the warning virt-v2v gives every Debian or Ubuntu guest with GRUB 2: it can
// set the default kernel only with grubby or Perl's Bootloader::Tools, which Debian has
// neither of (virt-v2v(1), "Debian and Ubuntu"). It is not about the disk, so it is allowed.
const v2vDebianGrub = "virt-v2v: warning: could not determine a way to update the configuration of Grub2"

// v2vProgress matches virt-v2v's progress lines ("[  12.3] Converting ...") and its messages.
// (The appliance's kernel messages, "[    1.234567] ...", are not progress.)
var v2vProgress = regexp.MustCompile(`(?m)^(\[ *[0-9]+\.[0-9]\] .*|virt-v2v: .*)$`)

// checkVirtV2V converts disk with virt-v2v (-i disk, libguestfs's direct backend under TCG,
// -o null: the conversion is made and thrown away; the input is only read, through an
// overlay) and fails unless it succeeds without an error or warning (but v2vDebianGrub):
// virt-v2v inspects the guest, detects its bootloader ("no bootloader detected" for
// extlinux), rebuilds its initramfs and regenerates its grub.cfg with the guest's
// grub-mkconfig. The debug log (-v -x) goes to virt-v2v.log beside disk; a failure shows its
// progress lines and its end.
func checkVirtV2V(t *testing.T, disk string) {
	t.Helper()
	if _, err := exec.LookPath("virt-v2v"); err != nil {
		t.Fatalf("virt-v2v not installed (scripts/install-deps.sh installs it): %v", err)
	}
	logPath := filepath.Join(filepath.Dir(disk), "virt-v2v.log")
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "virt-v2v", "-v", "-x", "-i", "disk", disk, "-o", "null")
	cmd.Env = append(testimages.LibguestfsEnv(t), "TMPDIR="+filepath.Dir(disk))
	cmd.Stdout, cmd.Stderr = log, log
	err = cmd.Run()
	t.Logf("virt-v2v -i disk -o null took %s", time.Since(start).Round(time.Second))
	out, rerr := os.ReadFile(logPath)
	if rerr != nil {
		t.Fatal(rerr)
	}
	progress := strings.Join(v2vProgress.FindAllString(string(out), -1), "\n")
	if err != nil || v2vComplaint.MatchString(strings.ReplaceAll(progress, v2vDebianGrub, "")) {
		t.Errorf("virt-v2v -i disk %s: %v\n%s\n... debug log ends:\n%s", disk, err, progress, tailLines(string(out), 40))
		return
	}
	t.Logf("virt-v2v:\n%s", progress)
}

func tailLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
