//go:build linux

package clean

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"
)

// Step is one step of a RunSteps run: like an Op, it works through an Env and gets its own
// OpReport. internal/retarget's conversion is made of steps.
type Step struct {
	Name        string
	Description string
	// Skip, when not empty, marks the step not applicable with this reason; Run is not called.
	Skip string
	// Run performs the step through e (which honours dry-run); it logs what it wants through
	// e.Opts.Logf.
	Run func(e *Env) error
}

// StepOptions configure RunSteps.
type StepOptions struct {
	DryRun        bool
	AllowLiveRoot bool
	MaxEditSize   int64
	Logf          func(format string, args ...any)
}

// RunSteps runs steps in order on the guest tree root with one shared dry-run state, like Run
// runs ops, and returns the report (one OpReport per step). It refuses the host's own "/"
// unless AllowLiveRoot, and a tree without a Linux guest. Like Run, it returns the report
// whenever the steps ran, with the joined step errors.
func RunSteps(ctx context.Context, root *guestfs.Root, opts StepOptions, steps []Step) (*Report, error) {
	if opts.MaxEditSize < 0 {
		return nil, fmt.Errorf("clean: max_edit_size must not be negative")
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
	if !info.Linux {
		return nil, ErrNotLinux
	}
	st := newState(root, rst, opts.DryRun, opts.MaxEditSize)
	eo := &Options{DryRun: opts.DryRun, MaxEditSize: opts.MaxEditSize, Logf: opts.Logf}
	var names []string
	for _, s := range steps {
		names = append(names, s.Name)
	}
	rep := &Report{Root: root.Dir(), DryRun: opts.DryRun, Guest: info, Operations: names, Started: time.Now()}
	for _, s := range steps {
		or := OpReport{Name: s.Name, Description: s.Description, Status: StatusDone}
		if err := ctx.Err(); err != nil {
			rep.Duration = time.Since(rep.Started)
			rep.total()
			return rep, err
		}
		if s.Skip != "" {
			or.Status, or.Reason = StatusNotApplicable, s.Skip
			rep.Ops = append(rep.Ops, or)
			continue
		}
		runOne(ctx, root, info, eo, st, rep, or, s.Run)
	}
	rep.Duration = time.Since(rep.Started)
	rep.total()
	return rep, rep.Err()
}

// runOne runs one op or step (run) through its own Env on the run's shared state and appends
// its outcome, or, to rep.
func runOne(ctx context.Context, root *guestfs.Root, info *guestfs.OSInfo, opts *Options, st *state, rep *Report, or OpReport, run func(e *Env) error) {
	start := time.Now()
	e := &Env{Root: root, OS: info, Opts: opts, ctx: ctx, st: st, rep: &or}
	if err := run(e); err != nil {
		e.Errorf("%v", err)
	}
	if len(or.Errors) > 0 {
		or.Status = StatusFailed
	}
	or.Duration = time.Since(start)
	rep.Ops = append(rep.Ops, or)
}

// newState prepares the shared state of a run on root (rst: the root's stat).
func newState(root *guestfs.Root, rst *syscall.Stat_t, dry bool, maxEdit int64) *state {
	st := &state{
		dry:       dry,
		removed:   map[string]bool{},
		removedID: map[[2]uint64]bool{},
		truncated: map[string]bool{},
		overlay:   map[string][]byte{},
		maxEdit:   maxEdit,
	}
	if st.maxEdit == 0 {
		st.maxEdit = defaultMaxEditSize
	}
	if rst != nil {
		st.rootID = [2]uint64{uint64(rst.Dev), rst.Ino}
	}
	st.findForeign(root)
	return st
}
