package testtier

import (
	"strings"
	"testing"
)

func TestAcceptanceSkipsWithoutPackerAcc(t *testing.T) {
	t.Setenv("PACKER_ACC", "")
	var skipped bool
	var msg string
	t.Run("gated", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		Acceptance(t, "a packer build")
		msg = "not skipped"
	})
	if !skipped || msg != "" {
		t.Errorf("Acceptance without PACKER_ACC did not skip (skipped %v, %q)", skipped, msg)
	}
	for _, v := range []string{"0", "true", "yes"} {
		t.Setenv("PACKER_ACC", v)
		if Enabled() {
			t.Errorf("PACKER_ACC=%s enables acceptance tests; only 1 does", v)
		}
	}
}

func TestAcceptanceRunsWithPackerAcc(t *testing.T) {
	t.Setenv("PACKER_ACC", "1")
	ran := false
	t.Run("gated", func(t *testing.T) {
		Acceptance(t, "a packer build")
		ran = true
	})
	if !ran {
		t.Error("Acceptance skipped with PACKER_ACC=1")
	}
}

func TestAcceptanceMessage(t *testing.T) {
	t.Setenv("PACKER_ACC", "")
	rec := &recorder{TB: t}
	func() {
		defer func() { recover() }()
		Acceptance(rec, "the all-in-one OpenStack cloud")
	}()
	want := "acceptance test, needs the all-in-one OpenStack cloud: set PACKER_ACC=1 (make test)"
	if !strings.Contains(rec.msg, want) {
		t.Errorf("skip message %q, want %q", rec.msg, want)
	}
}

// recorder captures the skip message instead of skipping the test.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper() {}
func (r *recorder) Skip(args ...any) {
	for _, a := range args {
		r.msg += a.(string)
	}
	panic("skipped")
}
