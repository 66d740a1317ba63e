package datasource

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
)

type out struct {
	ID string `mapstructure:"id"`
}

var spec = hcldec.ObjectSpec{"id": &hcldec.AttrSpec{Name: "id", Type: cty.String}}

func TestExecute(t *testing.T) {
	v, err := Execute(spec, func(ctx context.Context) (interface{}, error) {
		if d, ok := ctx.Deadline(); !ok || d.IsZero() {
			t.Error("the lookup has no deadline")
		}
		return out{ID: "img-1"}, nil
	})
	if err != nil || v.GetAttr("id").AsString() != "img-1" {
		t.Fatalf("got %#v, %v", v, err)
	}
	v, err = Execute(spec, func(context.Context) (interface{}, error) { return nil, errors.New("no image matches") })
	if err == nil || !v.IsNull() {
		t.Fatalf("failed lookup: %#v, %v; want null and the error", v, err)
	}
}

func TestConfigure(t *testing.T) {
	var c struct {
		Name string `mapstructure:"name"`
	}
	check := func() []error {
		if c.Name == "" {
			return []error{errors.New("name is required"), errors.New("second")}
		}
		return nil
	}
	if err := Configure(&c, []interface{}{map[string]interface{}{"name": "x"}}, check); err != nil || c.Name != "x" {
		t.Fatalf("valid: %v, %q", err, c.Name)
	}
	c.Name = ""
	if err := Configure(&c, []interface{}{map[string]interface{}{}}, check); err == nil || !strings.Contains(err.Error(), "name is required") || !strings.Contains(err.Error(), "second") {
		t.Fatalf("invalid: %v, want every error", err)
	}
	if err := Configure(&c, []interface{}{map[string]interface{}{"nope": 1}}, check); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("unknown key: %v", err)
	}
}
