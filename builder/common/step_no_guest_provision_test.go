package common

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// hookFunc is a Packer hook: its function plays the template's provisioners.
type hookFunc func(ctx context.Context, name string, comm packersdk.Communicator) error

func (f hookFunc) Run(ctx context.Context, name string, _ packersdk.Ui, comm packersdk.Communicator, _ interface{}) error {
	return f(ctx, name, comm)
}

func noGuestState(h packersdk.Hook) (*multistep.BasicStateBag, *bytes.Buffer) {
	var out bytes.Buffer
	state := new(multistep.BasicStateBag)
	state.Put("hook", h)
	state.Put("ui", &packersdk.BasicUi{Writer: &out, ErrorWriter: &out})
	return state, &out
}

func noGuestStep() *StepNoGuestProvision {
	return &StepNoGuestProvision{Reason: `x: mode = "snapshot" has no guest tree to provision`, Advice: "use image mode"}
}

// Without provisioners, or with provisioners that never use the communicator (shell-local),
// the build goes on.
func TestNoGuestProvisionWithoutGuestUse(t *testing.T) {
	ran := 0
	state, _ := noGuestState(hookFunc(func(ctx context.Context, name string, comm packersdk.Communicator) error {
		if name == packersdk.HookProvision {
			ran++
		}
		return nil
	}))
	s := noGuestStep()
	if a := s.Run(context.Background(), state); a != multistep.ActionContinue {
		t.Fatalf("step halted: %v", state.Get("error"))
	}
	s.Cleanup(state)
	if ran != 1 {
		t.Errorf("provision hook ran %d times, want 1", ran)
	}
	if _, ok := state.GetOk("error"); ok {
		t.Errorf("error set: %v", state.Get("error"))
	}
}

// A provisioner that uploads and retries until its context ends (as shell does for
// start_retry_timeout, 5 minutes) fails the build at once with the communicator's message,
// whatever error the provisioner itself returned.
func TestNoGuestProvisionFailsAtOnce(t *testing.T) {
	cleanupSaw := ""
	state, out := noGuestState(hookFunc(func(ctx context.Context, name string, comm packersdk.Communicator) error {
		if name == packersdk.HookCleanupProvision {
			cleanupSaw = "ran"
			return nil
		}
		for {
			if err := comm.Upload("/tmp/script_1.sh", strings.NewReader("echo"), nil); err == nil {
				return errors.New("upload succeeded")
			}
			select {
			case <-ctx.Done():
				return errors.New("retry: context cancelled")
			case <-time.After(100 * time.Millisecond):
			}
		}
	}))
	s := noGuestStep()
	start := time.Now()
	if a := s.Run(context.Background(), state); a != multistep.ActionHalt {
		t.Fatal("a provisioner that uploads did not halt the build")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the step took %s to fail", d)
	}
	err, _ := state.Get("error").(error)
	want := `x: mode = "snapshot" has no guest tree to provision (a provisioner tried to upload /tmp/script_1.sh); use image mode`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
	if !strings.Contains(out.String(), want) {
		t.Errorf("the message is not shown: %q", out.String())
	}
	s.Cleanup(state)
	if cleanupSaw != "ran" {
		t.Errorf("error-cleanup-provisioner hook not run after the failure")
	}
}

// Every communicator method fails and names what was asked.
func TestNoGuestCommunicatorRefusesAll(t *testing.T) {
	used := 0
	c := &NoGuestCommunicator{Reason: "R", Advice: "A", OnUse: func() { used++ }}
	for what, err := range map[string]error{
		`run "uname -s -m"`:                   c.Start(context.Background(), &packersdk.RemoteCmd{Command: "uname -s -m"}),
		"upload /etc/x":                       c.Upload("/etc/x", strings.NewReader(""), nil),
		"upload the directory /src to /dst":   c.UploadDir("/dst", "/src", nil),
		"download /var/log/x":                 c.Download("/var/log/x", &bytes.Buffer{}),
		"download the directory /var to /out": c.DownloadDir("/var", "/out", nil),
	} {
		if want := "R (a provisioner tried to " + what + "); A"; err == nil || err.Error() != want {
			t.Errorf("error %v, want %q", err, want)
		}
	}
	if used != 1 {
		t.Errorf("OnUse called %d times, want once", used)
	}
	if c.Err() == nil {
		t.Errorf("first failure not kept")
	}
}
