package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage/diskimagetest"
)

// TestBombs: `chromogenic info` and `chromogenic convert` on crafted qcow2 and VMDK images
// of 64 GiB and 16 TiB (diskimagetest) refuse them with an error naming the file (tables
// or data shared by many guest ranges) or, for an honest sparse image, finish; each run
// within 60 s and 256 MiB of peak RSS (the child's rusage).
func TestBombs(t *testing.T) {
	dir := t.TempDir()
	names := map[diskimagetest.Sharing]string{diskimagetest.SharedTables: "shared-tables", diskimagetest.SharedData: "shared-data", diskimagetest.Honest: "honest"}
	for _, format := range []string{"qcow2", "vmdk"} {
		for _, size := range []uint64{64 << 30, 16 << 40} {
			for _, share := range []diskimagetest.Sharing{diskimagetest.SharedTables, diskimagetest.SharedData, diskimagetest.Honest} {
				name := fmt.Sprintf("%s-%dGiB-%s", format, size>>30, names[share])
				t.Run(name, func(t *testing.T) {
					p := filepath.Join(dir, name+"."+format)
					var err error
					if format == "qcow2" {
						err = diskimagetest.Qcow2(p, size, share, 'c')
					} else {
						err = diskimagetest.VMDK(p, size, 128, share, 'c')
					}
					if err != nil {
						t.Fatal(err)
					}
					out := filepath.Join(dir, name+".out.qcow2")
					for _, args := range [][]string{{"info", p}, {"info", "--json", p}, {"convert", p, out, "-O", "qcow2"}} {
						code, stderr := boundedRun(t, args...)
						switch {
						case share == diskimagetest.Honest && code != 0:
							t.Errorf("%v: exit %d: %s", args, code, stderr)
						case share != diskimagetest.Honest && (code == 0 || !strings.Contains(stderr, p) || !strings.Contains(stderr, "shared") && !strings.Contains(stderr, "share the")):
							t.Errorf("%v: exit %d, stderr %q: want a refusal naming the file and what is shared", args, code, stderr)
						}
					}
				})
			}
		}
	}
}

// boundedRun runs the CLI with a 60 s deadline and fails the test if its peak RSS passes
// 256 MiB. It returns the exit code and stderr.
func boundedRun(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%v: still running after 60 s", args)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	t.Logf("%s: exit %d in %v, max RSS %d MiB", strings.Join(args[:len(args)-1], " "), code, time.Since(start).Round(time.Millisecond), ru.Maxrss>>10)
	if ru.Maxrss > 256<<10 { // KiB
		t.Errorf("%v: max RSS %d MiB, more than 256 MiB", args, ru.Maxrss>>10)
	}
	return code, stderr.String()
}
