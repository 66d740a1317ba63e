// Package vmdktest checks the VMDK files we write the way their two kinds of consumer read
// them, for tests: OpenStack's own image format inspector (Inspect: the Python module
// Glance ships, the code that guards Glance uploads, Nova and Cinder) and VMware's
// sequential stream reader (WalkStream: markers in order, no seeking). It trusts the
// inspector it runs, nothing in the files it reads, and is trusted by nothing but tests.
package vmdktest

import (
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Python is Debian's interpreter: the OpenStack libraries the all-in-one cloud uses are
// Debian packages (test/openstack-aio/lib.sh), never a pyenv or venv one.
const Python = "/usr/bin/python3"

// script detects the format the way Glance does (one streaming pass, first complete match
// wins, raw otherwise) and prints it with the virtual size and the safety check's verdict.
// glance's safety_check returns a bool; oslo.utils' raises on failure and returns None.
const script = `
import json, sys
try:
    from glance.common import format_inspector as fi
    mod = "glance.common.format_inspector"
except ImportError:
    try:
        from oslo_utils.imageutils import format_inspector as fi
        mod = "oslo_utils.imageutils.format_inspector"
    except ImportError:
        print(json.dumps({"missing": True}))
        sys.exit(0)
insp = fi.detect_file_format(sys.argv[1])
name = "raw"
for k, v in fi.ALL_FORMATS.items():
    if type(insp) is v:
        name = k
safe, why = True, ""
try:
    r = insp.safety_check()
    if r is False:
        safe = False
except Exception as e:
    safe, why = False, "%s: %s" % (type(e).__name__, e)
print(json.dumps({"module": mod, "format": name, "virtual_size": insp.virtual_size, "safe": safe, "why": why}))
`

// Result is the inspector's verdict on a file.
type Result struct {
	Module      string `json:"module"`
	Format      string `json:"format"`
	VirtualSize int64  `json:"virtual_size"`
	Safe        bool   `json:"safe"`
	Why         string `json:"why"`
	Missing     bool   `json:"missing"`
}

// Inspect runs the inspector on path. It skips t, saying why, only when neither Python
// module is installed (apt-get install python3-glance, or test/openstack-aio/setup.sh).
func Inspect(t testing.TB, path string) Result {
	t.Helper()
	out, err := exec.Command(Python, "-c", script, path).Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("format inspector on %s: %v\n%s", path, err, msg)
	}
	var r Result
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("format inspector on %s: %v: %q", path, err, out)
	}
	if r.Missing {
		t.Skipf("OpenStack's format inspector is not installed (%s has neither glance.common.format_inspector nor oslo_utils.imageutils.format_inspector; apt-get install python3-glance)", Python)
	}
	return r
}

// Require fails t unless the inspector detects path as format, of virtual size size, and
// its safety check passes.
func Require(t testing.TB, path, format string, size int64) {
	t.Helper()
	r := Inspect(t, path)
	var bad []string
	if r.Format != format {
		bad = append(bad, "format "+r.Format+", want "+format)
	}
	if r.VirtualSize != size {
		bad = append(bad, "virtual size "+itoa(r.VirtualSize)+", want "+itoa(size))
	}
	if !r.Safe {
		bad = append(bad, "safety check failed "+r.Why)
	}
	if len(bad) > 0 {
		t.Errorf("%s (%s): %s", path, r.Module, strings.Join(bad, "; "))
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
