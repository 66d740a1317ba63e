package openstack

import (
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
)

func TestUploadFormat(t *testing.T) {
	ami := &images.Image{DiskFormat: "ami", Properties: map[string]any{"kernel_id": "k", "ramdisk_id": "r"}}
	snap := &images.Image{DiskFormat: "qcow2", Properties: map[string]any{"kernel_id": "k"}}
	for _, c := range []struct {
		name            string
		set             string
		src             *images.Image
		carry           bool
		disk, container string
	}{
		{"carry: the AMI's filesystem as raw", "", ami, true, "raw", "bare"},
		{"carry with image_disk_format", "raw", ami, true, "raw", "bare"},
		{"bootable from ami", "", ami, false, "qcow2", "bare"},
		{"carry from a qcow2 snapshot", "", snap, true, "qcow2", "bare"},
		{"plain raw source", "", &images.Image{DiskFormat: "raw"}, false, "raw", "bare"},
	} {
		d, ct := uploadFormat(c.set, c.src, c.carry)
		if d != c.disk || ct != c.container {
			t.Errorf("%s: %s/%s, want %s/%s", c.name, d, ct, c.disk, c.container)
		}
	}
	if got := externalKernel(ami); got["kernel_id"] != "k" || got["ramdisk_id"] != "r" || len(got) != 2 {
		t.Errorf("externalKernel(ami) = %v", got)
	}
	if got := externalKernel(snap); got["kernel_id"] != "k" || len(got) != 1 {
		t.Errorf("externalKernel(snapshot) = %v", got)
	}
	if got := externalKernel(&images.Image{Properties: map[string]any{"kernel_id": ""}}); got != nil {
		t.Errorf("externalKernel of an empty kernel_id = %v, want nil", got)
	}
}
