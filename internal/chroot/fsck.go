//go:build linux

package chroot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// FsckTimeout bounds one filesystem's check or repair: the tools parse a filesystem the guest
// controls, and a crafted one must not hold a build forever.
var FsckTimeout = 30 * time.Minute

// maxFsckOutput bounds what is kept of a tool's output (its end, where the summary is).
const maxFsckOutput = 64 << 10

// fsckSummaryLines is how many of the output's last lines an error quotes.
const fsckSummaryLines = 12

// Fsck checks (or with FsckRepair and !readOnly, repairs) the filesystem on p through its
// loop device, which must not be mounted. ext2/3/4, XFS and Btrfs are checked; other types
// (vfat, swap) pass unchecked. The tools are host programs reading guest-controlled data: each
// runs with FsckTimeout, no input, LC_ALL=C, and only the end of its output is kept. A damaged
// filesystem gives an error naming the partition and quoting the tool's summary.
func Fsck(ctx context.Context, p *Partition, mode FsckMode, readOnly bool) error {
	if mode == "" || mode == FsckSkip {
		return nil
	}
	repair := mode == FsckRepair && !readOnly
	var argv []string
	switch p.FSType {
	case "ext2", "ext3", "ext4":
		if repair {
			argv = []string{"e2fsck", "-f", "-p", p.Device} // -p: only the safe, automatic fixes
		} else {
			argv = []string{"e2fsck", "-f", "-n", p.Device}
		}
	case "xfs":
		if repair {
			argv = []string{"xfs_repair", p.Device} // never -L: see the exit 2 case below
		} else {
			argv = []string{"xfs_repair", "-n", p.Device}
		}
	case "btrfs":
		argv = []string{"btrfs", "check", "--readonly", p.Device}
	default:
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, FsckTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	out := &tailBuffer{max: maxFsckOutput}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	what := strings.Join(argv[:len(argv)-1], " ")
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("fsck: %s of %s did not finish in %s", what, p, FsckTimeout)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return fmt.Errorf("fsck: %s of %s: %w", what, p, err)
	}
	code := ee.ExitCode()
	summary := out.summary(fsckSummaryLines)
	switch {
	case argv[0] == "e2fsck" && repair && (code == 1 || code == 2):
		return nil // errors were corrected (2: "reboot", which concerns a mounted root only)
	case argv[0] == "xfs_repair" && repair && code == 2:
		return fmt.Errorf("fsck: %s: the XFS log holds changes that must be replayed before xfs_repair can run; "+
			"chromogenic does not run xfs_repair -L, which throws the log away and can lose data: "+
			"mount and unmount the filesystem once to replay its log, or use fsck = \"skip\" (the mount replays it)\n%s", p, summary)
	case argv[0] == "btrfs" && mode == FsckRepair && !readOnly:
		return fmt.Errorf("fsck: %s found errors on %s (exit %d); Btrfs is never repaired here "+
			"(btrfs check --repair can make the damage worse): repair it by hand\n%s", what, p, code, summary)
	case repair:
		return fmt.Errorf("fsck: %s could not repair %s (exit %d)\n%s", what, p, code, summary)
	}
	hint := ""
	if argv[0] == "xfs_repair" && bytes.Contains(out.buf, []byte("valuable metadata changes in a log")) {
		hint = " (its log holds changes not yet replayed, which xfs_repair -n ignores: what it reports may be spurious)"
	}
	return fmt.Errorf("fsck: %s found %s damaged (exit %d)%s\n%s", what, p, code, hint, summary)
}

// fsckBefore returns the GuestOptions.BeforeMount hook that runs Fsck with mode.
func fsckBefore(mode FsckMode, readOnly bool, next func(*Partition) error) func(*Partition) error {
	return func(p *Partition) error {
		if err := Fsck(context.Background(), p, mode, readOnly); err != nil {
			return err
		}
		if next != nil {
			return next(p)
		}
		return nil
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	buf []byte
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) > b.max {
		p = p[len(p)-b.max:]
	}
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-b.max:]...)
	}
	return n, nil
}

// summary returns the last n non-empty lines, indented.
func (b *tailBuffer) summary(n int) string {
	var lines []string
	for _, l := range strings.Split(string(b.buf), "\n") {
		if l = strings.TrimRight(l, " \r\t"); l != "" {
			lines = append(lines, "  "+strings.ToValidUTF8(l, "?"))
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
