package common

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	"github.com/hashicorp/packer-plugin-sdk/multistep/commonsteps"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// StepNoGuestProvision runs the template's provisioners in a build that has no guest to reach
// (chromogenic-openstack's snapshot mode). A builder cannot see the template's provisioners,
// so it runs the provision hook with a NoGuestCommunicator: without provisioners nothing
// happens; provisioners that never touch the communicator (shell-local, breakpoint) run; the
// first one that does fails the build with the communicator's error, at once (the hook's
// context is cancelled, so a provisioner that retries, such as shell, gives up). Put it before
// any step that creates something, so a refused template leaves nothing behind.
type StepNoGuestProvision struct {
	Reason string // what is missing: `chromogenic-openstack: mode = "snapshot" has no guest tree to provision`
	Advice string // what to do instead
	ran    bool
}

func (s *StepNoGuestProvision) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	s.ran = true
	if err := s.runHook(ctx, state, packersdk.HookProvision); err != nil {
		return Halt(state, err)
	}
	return multistep.ActionContinue
}

// Cleanup runs the error-cleanup-provisioner, if any, when the build failed, as the SDK's
// StepProvision does, with the same communicator.
func (s *StepNoGuestProvision) Cleanup(state multistep.StateBag) {
	orig, failed := state.GetOk("error")
	if !s.ran || !failed {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if err := s.runHook(ctx, state, packersdk.HookCleanupProvision); err != nil {
		state.Put("error", fmt.Errorf("Cleanup failed: %s. Original Provisioning error: %s", err, orig))
	}
}

// runHook runs one hook with a fresh NoGuestCommunicator and returns the communicator's error
// if a provisioner used it, else the hook's.
func (s *StepNoGuestProvision) runHook(ctx context.Context, state multistep.StateBag, hooktype string) error {
	hook := state.Get("hook").(packersdk.Hook)
	ui := state.Get("ui").(packersdk.Ui)
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	comm := &NoGuestCommunicator{Reason: s.Reason, Advice: s.Advice, OnUse: cancel}
	data := commonsteps.PopulateProvisionHookData(state)
	state.Put("generated_data", data)

	done := make(chan error, 1)
	go func() { done <- hook.Run(hctx, hooktype, ui, comm, data) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if cerr := comm.Err(); cerr != nil {
				return cerr
			}
			if err == nil && ctx.Err() != nil {
				err = ctx.Err()
			}
			return err
		case <-tick.C:
			if _, ok := state.GetOk(multistep.StateCancelled); ok {
				cancel() // Ctrl-C: the hook returns, then this step halts
			}
		}
	}
}

// NoGuestCommunicator is the communicator of a build with no guest: every call fails with
// `<Reason> (a provisioner tried to <what>); <Advice>`. The first failure is kept (Err) and
// calls OnUse.
type NoGuestCommunicator struct {
	Reason, Advice string
	OnUse          func()

	mu  sync.Mutex
	err error
}

var _ packersdk.Communicator = (*NoGuestCommunicator)(nil)

func (c *NoGuestCommunicator) fail(what string) error {
	err := fmt.Errorf("%s (a provisioner tried to %s); %s", c.Reason, what, c.Advice)
	c.mu.Lock()
	first := c.err == nil
	if first {
		c.err = err
	}
	c.mu.Unlock()
	if first && c.OnUse != nil {
		c.OnUse()
	}
	return err
}

// Err is the first failure, nil while no provisioner used the communicator.
func (c *NoGuestCommunicator) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *NoGuestCommunicator) Start(_ context.Context, cmd *packersdk.RemoteCmd) error {
	return c.fail(fmt.Sprintf("run %q", cmd.Command))
}

func (c *NoGuestCommunicator) Upload(dst string, _ io.Reader, _ *os.FileInfo) error {
	return c.fail("upload " + dst)
}

func (c *NoGuestCommunicator) UploadDir(dst, src string, _ []string) error {
	return c.fail(fmt.Sprintf("upload the directory %s to %s", src, dst))
}

func (c *NoGuestCommunicator) Download(src string, _ io.Writer) error {
	return c.fail("download " + src)
}

func (c *NoGuestCommunicator) DownloadDir(src, dst string, _ []string) error {
	return c.fail(fmt.Sprintf("download the directory %s to %s", src, dst))
}
