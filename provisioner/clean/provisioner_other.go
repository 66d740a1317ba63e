//go:build !linux

package clean

import (
	"context"
	"fmt"
	"io"
	"runtime"

	"github.com/hashicorp/hcl/v2/hcldec"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"
)

// Provisioner is chromogenic-clean. Elsewhere than Linux its configuration decodes and is
// checked (packer validate on macOS or Windows), and Provision refuses: a mounted guest tree
// comes from a chromogenic builder, which needs Linux, and live mode uploads this binary to
// the guest, so it must be the Linux build.
type Provisioner struct {
	config Config
}

func (p *Provisioner) ConfigSpec() hcldec.ObjectSpec { return p.config.FlatMapstructure().HCL2Spec() }

func (p *Provisioner) Prepare(raws ...interface{}) error { return p.config.Prepare(raws...) }

func (p *Provisioner) Provision(context.Context, packersdk.Ui, packersdk.Communicator, map[string]interface{}) error {
	return fmt.Errorf("chromogenic-clean needs Linux (a mounted guest tree, or this plugin's Linux binary uploaded to the guest); this is %s/%s: run the build on a Linux host",
		runtime.GOOS, runtime.GOARCH)
}

// GuestCommand is the hidden command of the plugin binary that runs the cleaning engine on a
// guest (as in guest.go).
const GuestCommand = "clean-guest"

// GuestMain refuses: the guest side of live mode is the Linux build.
func GuestMain(_ []string, _, stderr io.Writer) int {
	fmt.Fprintf(stderr, "%s runs on a Linux guest; this is %s/%s\n", GuestCommand, runtime.GOOS, runtime.GOARCH)
	return 2
}

// Modes of the provisioner (Config.Mode), as in live.go.
const (
	ModeMounted = "mounted"
	ModeLive    = "live"
)

// executeData are the variables of execute_command (as in live.go), for Prepare's check.
type executeData struct {
	Command    string
	Path       string
	ConfigPath string
}

func renderExecute(tpl string, d executeData, ctx *interpolate.Context) (string, error) {
	c := *ctx
	c.Data = d
	return interpolate.Render(tpl, &c)
}
