package main

import (
	le "encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	oscloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage/vmdktest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/openstacktest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

// TestAccOpenStackPushGDAtEndVMDK, on the all-in-one OpenStack: a streamOptimized VMDK as
// VMware writes it (header grain directory offset GD_AT_END) pushed as disk_format vmdk is
// re-encoded on the way, not sent as it is: Glance holds a VMDK whose header carries the
// real offset, which OpenStack's format inspector reads as a VMDK of the right size, with
// the source's content.
func TestAccOpenStackPushGDAtEndVMDK(t *testing.T) {
	testtier.Acceptance(t, "the all-in-one OpenStack cloud")
	t.Setenv("OS_CLIENT_CONFIG_FILE", openstacktest.CloudsFile(t))
	t.Setenv("OS_CLOUD", "")
	c := openstacktest.Connect(t, "aio-a")
	dir := t.TempDir()
	const size = 16 << 20
	raw := filepath.Join(dir, "src.raw")
	makeRaw(t, raw, size)
	src := filepath.Join(dir, "vmware.vmdk")
	cli(t, 0, "convert", raw, src, "-O", "vmdk")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	le.LittleEndian.PutUint64(b[56:], ^uint64(0)) // GD_AT_END: the offset is in the footer only
	if err := os.WriteFile(src, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// A file VMware wrote has no record (the conversion's no longer describes it: push would
	// refuse it).
	if err := os.Remove(provenance.SidecarPath(src)); err != nil {
		t.Fatal(err)
	}
	qemuImg(t, "compare", "-f", "raw", "-F", "vmdk", raw, src)

	name := "acc-cli-gdatend-" + time.Now().Format("150405")
	stdout, stderr := cli(t, 0, "push", "--to", "openstack", "--os-cloud", "aio-a", src, "--name", name, "--json")
	var res map[string]string
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v\n%s\n%s", err, stdout, stderr)
	}
	id := res["id"]
	t.Cleanup(func() { openstacktest.DeleteImage(t, c, id) })
	if !strings.Contains(stderr, "re-encoded") || !strings.Contains(stderr, "GD_AT_END") {
		t.Errorf("push did not say it re-encoded the GD_AT_END VMDK:\n%s", stderr)
	}
	img, err := oscloud.GetImage(t.Context(), c.Image, id)
	if err != nil {
		t.Fatal(err)
	}
	if img.Status != images.ImageStatusActive || img.DiskFormat != "vmdk" {
		t.Errorf("pushed image %+v", img)
	}
	back := filepath.Join(dir, "glance.vmdk")
	openstacktest.DownloadImage(t, c, id, back)
	got, err := os.ReadFile(back)
	if err != nil {
		t.Fatal(err)
	}
	if diskimage.VMDKGDAtEnd(got) {
		t.Error("Glance holds the VMDK with its GD_AT_END header")
	}
	vmdktest.Require(t, back, "vmdk", size)
	qemuImg(t, "check", "-f", "vmdk", back)
	qemuImg(t, "compare", "-f", "raw", "-F", "vmdk", raw, back)
}
