// Package postprocess holds the Packer plumbing that the post-processors share: decoding and
// validating their configuration (Prepare: chromogenic-ec2-import, chromogenic-openstack-import)
// and the gate that starts a run (Start: all three), which keeps a later chain of an
// interrupted build from publishing (internal/interrupt).
//
// It trusts nothing of the template beyond what each face's checks validate; it imports no
// face: post-processors import it.
package postprocess

import (
	"context"
	"fmt"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/interrupt"
)

// Prepare decodes raws into cfg (a pointer to the face's Config) for the plugin type id,
// interpolating with ictx, then runs check, which validates cfg and fills its defaults. A
// decode error is returned as it is; otherwise every error check returns comes back at once
// (each naming its field), or nil.
func Prepare(cfg interface{}, id string, ictx *interpolate.Context, raws []interface{}, check func() []error) error {
	if err := config.Decode(cfg, &config.DecodeOpts{
		PluginType: id, Interpolate: true, InterpolateContext: ictx,
	}, raws...); err != nil {
		return err
	}
	return Errors(check())
}

// Errors returns errs as one packersdk.MultiError, or nil when there are none.
func Errors(errs []error) error {
	var m *packersdk.MultiError
	m = packersdk.MultiErrorAppend(m, errs...)
	if m != nil && len(m.Errors) > 0 {
		return m
	}
	return nil
}

// Start begins a post-processor's run named name (the plugin type, e.g.
// "chromogenic-ec2-import"): the returned context is cancelled when the build is interrupted,
// and stop must be called when the run ends. If the build is already interrupted, Start
// returns an error wrapping interrupt.ErrInterrupted and a nil stop.
func Start(ctx context.Context, name string) (context.Context, func(), error) {
	if interrupt.Interrupted() {
		return nil, nil, fmt.Errorf("%s: %w", name, interrupt.ErrInterrupted)
	}
	ctx, stop := interrupt.Context(ctx)
	return ctx, stop, nil
}
