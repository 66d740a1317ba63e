package ec2

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
)

// StepAttachVolume (capture_method attach) attaches the capture volume to this host under
// device_path, or the first free name of /dev/sd[f-p] (a name the cloud says is in use moves
// on to the next), waits until the attachment is attached and until the block device shows
// up on the host (under the name, its xvd/vd spelling, or as the NVMe namespace whose serial
// is the volume id). The volume is detached (and waited for) as soon as its data is home, or
// by Cleanup on failure and interrupts.
//
// Produces: capture_device string
type StepAttachVolume struct {
	Config *Config
	// Devices are the host's /dev and /sys (tests use fake trees). Default the real ones.
	Devices  cloud.DeviceRoots
	vol      string
	instance string
}

func (s *StepAttachVolume) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := state.Get("ui").(packersdk.Ui)
	cl := state.Get("clients").(*cloud.Clients)
	host := state.Get("host").(cloud.Host)
	vol := state.Get("capture_volume").(string)
	c := s.Config
	roots := s.Devices
	if roots.Dev == "" {
		roots = cloud.HostDevices
	}
	var names []string
	if c.DevicePath != "" {
		if _, err := os.Lstat(c.DevicePath); err == nil {
			return bcommon.Halt(state, fmt.Errorf("device_path %s exists on this host already: choose a free name", c.DevicePath))
		}
		names = []string{cloud.AttachName(c.DevicePath)}
	} else {
		used, err := cloud.InstanceDeviceNames(ctx, cl.EC2, host.InstanceID)
		if err != nil {
			return bcommon.Halt(state, err)
		}
		if names = roots.FreeNames(used); len(names) == 0 {
			return bcommon.Halt(state, fmt.Errorf("no free device name in /dev/sd[f-p] on this host (attached: %v): set device_path", used))
		}
	}
	var name string
	for i, n := range names {
		ui.Say(fmt.Sprintf("Attaching volume %s to this host (%s) as %s...", vol, host.InstanceID, n))
		err := cloud.AttachVolume(ctx, cl.EC2, vol, host.InstanceID, n)
		if err == nil {
			name = n
			break
		}
		if c.DevicePath == "" && cloud.DeviceNameInUse(err) && i+1 < len(names) {
			ui.Message(fmt.Sprintf("%s is in use: trying the next name", n))
			continue
		}
		return bcommon.Halt(state, err)
	}
	s.vol, s.instance = vol, host.InstanceID
	bcommon.PushRelease(state, s)
	start := time.Now()
	if err := cloud.WaitVolume(ctx, cl.EC2, vol, "attached", c.StateTimeout, cloud.VolumeAttached(host.InstanceID)); err != nil {
		return bcommon.Halt(state, err)
	}
	want := name
	if c.DevicePath != "" {
		want = c.DevicePath
	}
	dev, err := waitDevice(ctx, roots, want, vol, min(c.StateTimeout, 5*time.Minute))
	if err != nil {
		return bcommon.Halt(state, err)
	}
	ui.Message(fmt.Sprintf("Volume %s is attached as %s (%s)", vol, dev, time.Since(start).Round(time.Millisecond)))
	state.Put("capture_device", dev)
	return multistep.ActionContinue
}

// waitDevice polls for the block device of an attached volume.
func waitDevice(ctx context.Context, roots cloud.DeviceRoots, name, vol string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		dev, err := roots.FindDevice(name, vol)
		if err == nil {
			return dev, nil
		}
		if !errors.Is(err, cloud.ErrNoDevice) || time.Now().After(deadline) {
			return "", fmt.Errorf("volume %s is attached as %s but its device did not show up on this host within %s: %w", vol, name, timeout, err)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Release detaches the volume and waits until it is available. A device still in use on
// the host keeps the detach "busy": that is reported, never forced.
func (s *StepAttachVolume) Release(state multistep.StateBag) error {
	if s.vol == "" {
		return nil
	}
	ui := state.Get("ui").(packersdk.Ui)
	cl := state.Get("clients").(*cloud.Clients)
	timeout := min(s.Config.StateTimeout, 10*time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Minute)
	defer cancel()
	ui.Say(fmt.Sprintf("Detaching volume %s...", s.vol))
	if err := cloud.DetachVolume(ctx, cl.EC2, s.vol, s.instance, false); err != nil {
		return err
	}
	if err := cloud.WaitVolume(ctx, cl.EC2, s.vol, "available (detached)", timeout, cloud.VolumeAvailable); err != nil {
		return fmt.Errorf("%w: is its device still in use on this host?", err)
	}
	s.vol = ""
	return nil
}

func (s *StepAttachVolume) Cleanup(state multistep.StateBag) { bcommon.CleanupRelease(state, s) }
