package postprocess

import (
	"context"
	"errors"
	"strings"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"
)

type testConfig struct {
	Name  string `mapstructure:"name"`
	Count int    `mapstructure:"count"`
	ctx   interpolate.Context
}

func TestPrepare(t *testing.T) {
	var c testConfig
	check := func() []error {
		var errs []error
		if c.Name == "" {
			errs = append(errs, errors.New("name is required"))
		}
		if c.Count < 0 {
			errs = append(errs, errors.New("count must not be negative"))
		}
		if c.Count == 0 {
			c.Count = 3
		}
		return errs
	}
	if err := Prepare(&c, "test", &c.ctx, []interface{}{map[string]interface{}{"name": "n"}}, check); err != nil || c.Count != 3 {
		t.Fatalf("valid config: %v, count %d (want the default 3)", err, c.Count)
	}
	c = testConfig{}
	err := Prepare(&c, "test", &c.ctx, []interface{}{map[string]interface{}{"count": -1}}, check)
	var m *packersdk.MultiError
	if !errors.As(err, &m) || len(m.Errors) != 2 || !strings.Contains(err.Error(), "name is required") || !strings.Contains(err.Error(), "count must not be negative") {
		t.Fatalf("two bad fields: %v, want both errors at once", err)
	}
	c = testConfig{}
	called := false
	err = Prepare(&c, "test", &c.ctx, []interface{}{map[string]interface{}{"unknown_key": 1}}, func() []error { called = true; return nil })
	if err == nil || !strings.Contains(err.Error(), "unknown_key") || called {
		t.Fatalf("undecodable config: %v (checks run: %v), want the decode error naming the key and no checks", err, called)
	}
}

func TestErrors(t *testing.T) {
	if err := Errors(nil); err != nil {
		t.Errorf("no errors: %v", err)
	}
	if err := Errors([]error{errors.New("a")}); err == nil || !strings.Contains(err.Error(), "a") {
		t.Errorf("one error: %v", err)
	}
}

func TestStartNotInterrupted(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	ctx, stop, err := Start(parent, "chromogenic-test")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	cancel()
	<-ctx.Done() // the run's context follows the caller's
}
