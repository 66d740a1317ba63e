// Package datasource holds the Packer plumbing that the image lookup data sources
// (chromogenic-ec2-image, chromogenic-openstack-image) share: decoding and validating their
// configuration (Configure) and running a lookup into the template's value (Execute).
//
// It trusts nothing of the template beyond what each face's checks validate; it imports no
// face: data sources import it.
package datasource

import (
	"context"
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/packer-plugin-sdk/hcl2helper"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/zclconf/go-cty/cty"
)

// Timeout bounds one lookup: authentication and the listing of the cloud's images.
const Timeout = 5 * time.Minute

// Configure decodes raws into cfg (a pointer to the face's Config; data sources are
// evaluated before the build, so without interpolation), then runs check. A decode error is
// returned as it is; otherwise every error check returns comes back at once, or nil.
func Configure(cfg interface{}, raws []interface{}, check func() []error) error {
	if err := config.Decode(cfg, nil, raws...); err != nil {
		return err
	}
	var errs *packersdk.MultiError
	errs = packersdk.MultiErrorAppend(errs, check()...)
	if errs != nil && len(errs.Errors) > 0 {
		return errs
	}
	return nil
}

// Execute runs lookup within Timeout and gives its output (a DatasourceOutput struct) to
// the template as a value of spec; on error, a null value and the error.
func Execute(spec hcldec.ObjectSpec, lookup func(ctx context.Context) (interface{}, error)) (cty.Value, error) {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	out, err := lookup(ctx)
	if err != nil {
		return cty.NullVal(cty.EmptyObject), err
	}
	return hcl2helper.HCL2ValueFromConfig(out, spec), nil
}
