package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/ova"
)

// TestConvertOVAProfile: -o profile= and hardware_version= (with or without "vmx-") reach
// the appliance; a combination the profile does not take is a usage error naming the
// option, before anything is written.
func TestConvertOVAProfile(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	makeRaw(t, src, 4<<20)
	for _, c := range []struct{ opts, want, not string }{
		{"name=vb,profile=virtualbox,hash=sha1", "<vssd:VirtualSystemType>virtualbox-2.2</vssd:VirtualSystemType>", "vmw:"},
		{"name=vs,profile=vsphere,hardware_version=vmx-20,controller=pvscsi", "<vssd:VirtualSystemType>vmx-20</vssd:VirtualSystemType>", "vbox"},
	} {
		out := filepath.Join(dir, strings.SplitN(c.opts, ",", 2)[0][5:]+".ova")
		cli(t, 0, "convert", src, out, "-O", "ova", "-o", c.opts)
		a, err := ova.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Verify(context.Background()); err != nil {
			t.Error(err)
		}
		a.Close()
		b, _ := os.ReadFile(out)
		if !strings.Contains(string(b), c.want) || strings.Contains(string(b[:a.Members[0].Offset+a.Members[0].Size]), c.not) {
			t.Errorf("%s: descriptor lacks %s or carries %s", c.opts, c.want, c.not)
		}
	}
	for opts, want := range map[string]string{
		"profile=hyperv":                        "profile \"hyperv\"",
		"hardware_version=14":                   "hardware_version 14 is for profile vsphere",
		"profile=virtualbox,controller=pvscsi":  "controller pvscsi is for profile vsphere",
		"profile=vsphere,hardware_version=vmx-": "hardware_version",
	} {
		out := filepath.Join(dir, "bad.ova")
		_, stderr := cli(t, 2, "convert", src, out, "-O", "ova", "-o", opts)
		if !strings.Contains(stderr, want) {
			t.Errorf("-o %s: %q, want %q", opts, stderr, want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("-o %s: %s written", opts, out)
		}
	}
}
