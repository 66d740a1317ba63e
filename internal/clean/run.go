//go:build linux

package clean

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"
)

// ErrLiveRoot is returned when the root is the host's own "/" and Options.AllowLiveRoot is
// not set.
var ErrLiveRoot = errors.New("clean: the guest root is this machine's own / (set AllowLiveRoot to clean a live system)")

// ErrNotLinux is returned when inspection finds no Linux guest and Options.Force is not set.
var ErrNotLinux = errors.New("clean: no Linux guest found in the tree (no /etc with a release file or passwd); set Force to clean anyway")

// Run runs the selected operations on the guest tree root and returns the report. The report
// is returned (non-nil) whenever the operations ran, even if some failed; the error then
// joins the op errors (Report.Err). Targets skipped for safety (symlinks not followed,
// special files, hard links, mount points) are listed in the report and are not errors.
func Run(ctx context.Context, root *guestfs.Root, opts Options) (*Report, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	names, err := Resolve(opts.Operations)
	if err != nil {
		return nil, err
	}
	rootFI, err := root.Stat("/")
	if err != nil {
		return nil, fmt.Errorf("clean: %w", err)
	}
	rst, _ := rootFI.Sys().(*syscall.Stat_t)
	if !opts.AllowLiveRoot && isHostRoot(root.Dir(), rst) {
		return nil, ErrLiveRoot
	}
	info, err := guestfs.Inspect(root)
	if err != nil {
		return nil, fmt.Errorf("clean: inspect: %w", err)
	}
	if !info.Linux && !opts.Force {
		return nil, ErrNotLinux
	}
	rep := &Report{Root: root.Dir(), DryRun: opts.DryRun, Guest: info, Operations: names, Started: time.Now()}
	st := newState(root, rst, opts.DryRun, opts.MaxEditSize)
	if err := st.setupLive(root, &opts); err != nil {
		return nil, err
	}
	for _, n := range names {
		op := registry[n]
		or := OpReport{Name: op.Name, Description: op.Description, Status: StatusDone}
		if err := ctx.Err(); err != nil {
			rep.Duration = time.Since(rep.Started)
			rep.total()
			return rep, err
		}
		if op.Applies != nil {
			if ok, why := op.Applies(info); !ok {
				or.Status, or.Reason = StatusNotApplicable, why
				rep.Ops = append(rep.Ops, or)
				continue
			}
		}
		if opts.Logf != nil {
			opts.Logf("%s: %s", op.Name, op.Description)
		}
		runOne(ctx, root, info, &opts, st, rep, or, op.Run)
	}
	rep.Duration = time.Since(rep.Started)
	rep.total()
	return rep, rep.Err()
}

// isHostRoot reports whether the guest root is this machine's "/".
func isHostRoot(dir string, rst *syscall.Stat_t) bool {
	if p, err := filepath.EvalSymlinks(dir); err == nil && p == "/" {
		return true
	}
	fi, err := os.Stat("/") // the host's root, a trusted host path
	if err != nil || rst == nil {
		return false
	}
	h, ok := fi.Sys().(*syscall.Stat_t)
	return ok && h.Dev == rst.Dev && h.Ino == rst.Ino
}
