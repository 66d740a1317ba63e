package main

import (
	"context"
	"encoding/json"
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
	// info verifies the manifest, and names the member that no longer matches it.
	vb := filepath.Join(dir, "vb.ova")
	if stdout, _ := cli(t, 0, "info", vb); !strings.Contains(stdout, "manifest: vb.mf (SHA1, 2 files): verified") {
		t.Errorf("info:\n%s", stdout)
	}
	a, err := ova.Open(vb)
	if err != nil {
		t.Fatal(err)
	}
	off := a.Disks[0].Offset + 600
	a.Close()
	f, err := os.OpenFile(vb, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{0xee, 0xee}, off)
	f.Close()
	stdout, _ := cli(t, 0, "info", "--json", vb)
	var ii imageInfo
	if err := json.Unmarshal([]byte(stdout), &ii); err != nil {
		t.Fatal(err)
	}
	if m := ii.Manifest; m == nil || m.Verified || m.Algorithms != "SHA1" || !strings.Contains(m.Error, "vb-disk1.vmdk does not match its manifest vb.mf") {
		t.Errorf("info --json on a changed disk: %+v", m)
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
