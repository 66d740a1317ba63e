package openstacktest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/snapshots"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/volumeattach"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
)

// CephConf is the ceph.conf of the all-in-one cloud's Ceph cluster (Cinder's RBD back end).
func CephConf() string {
	cache := os.Getenv("CHROMOGENIC_CACHE")
	if cache == "" {
		cache = "/var/cache/chromogenic"
	}
	return filepath.Join(cache, "openstack-aio", "ceph", "ceph.conf")
}

// VolumeSHA256 is the SHA-256 of a Cinder volume's bytes, read from its RBD image on the
// host (rbd export): what the volume holds, whatever Cinder or a guest says.
func VolumeSHA256(t testing.TB, volumeID string) string {
	t.Helper()
	cmd := exec.Command("rbd", "-c", CephConf(), "export", "volumes/volume-"+volumeID, "-")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("rbd export: %v", err)
	}
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for {
		n, rerr := out.Read(buf)
		h.Write(buf[:n])
		if rerr != nil {
			break
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("rbd export volumes/volume-%s: %v %s", volumeID, err, stderr.String())
	}
	return hex.EncodeToString(h.Sum(nil))
}

// VolumeFromImage creates a volume of sizeGiB from a Glance image, waits until it is
// available and deletes it when the test ends (after what the test registers later, such as
// the server it is attached to).
func VolumeFromImage(t testing.TB, c *cloud.Clients, name, imageID string, sizeGiB int) *volumes.Volume {
	t.Helper()
	bs, err := cloud.BlockStorage(c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	v, err := volumes.Create(ctx, bs, volumes.CreateOpts{Name: name, Size: sizeGiB, ImageID: imageID}, nil).Extract()
	if err != nil {
		t.Fatalf("create volume from image %s: %v", imageID, err)
	}
	t.Cleanup(func() {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := cloud.DeleteVolume(dctx, bs, v.ID); err != nil {
			t.Errorf("delete test volume: %v", err)
		}
	})
	got, err := cloud.WaitVolume(ctx, bs, v.ID, "available", nil, "creating", "downloading")
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// StopServer stops a server and waits until it is SHUTOFF.
func StopServer(t testing.TB, c *cloud.Clients, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := servers.Stop(ctx, c.Compute, id).ExtractErr(); err != nil {
		t.Fatalf("stop server %s: %v", id, err)
	}
	for {
		srv, err := servers.Get(ctx, c.Compute, id).Extract()
		if err == nil && srv.Status == "SHUTOFF" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("server %s not SHUTOFF: %v", id, ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
}

// AttachVolume attaches a volume to a server (Nova) and waits until the volume is in-use.
func AttachVolume(t testing.TB, c *cloud.Clients, serverID, volumeID string) *volumes.Volume {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := volumeattach.Create(ctx, c.Compute, serverID, volumeattach.CreateOpts{VolumeID: volumeID}).Extract(); err != nil {
		t.Fatalf("attach volume %s to server %s: %v", volumeID, serverID, err)
	}
	bs, err := cloud.BlockStorage(c)
	if err != nil {
		t.Fatal(err)
	}
	v, err := cloud.WaitVolume(ctx, bs, volumeID, "in-use", nil, "available", "reserved", "attaching")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// ListVolumes and ListVolumeSnapshots list the project's volumes and volume snapshots.
func ListVolumes(t testing.TB, c *cloud.Clients) []volumes.Volume {
	t.Helper()
	bs, err := cloud.BlockStorage(c)
	if err != nil {
		t.Fatal(err)
	}
	pages, err := volumes.List(bs, volumes.ListOpts{}).AllPages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	vs, err := volumes.ExtractVolumes(pages)
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func ListVolumeSnapshots(t testing.TB, c *cloud.Clients) []snapshots.Snapshot {
	t.Helper()
	bs, err := cloud.BlockStorage(c)
	if err != nil {
		t.Fatal(err)
	}
	pages, err := snapshots.List(bs, snapshots.ListOpts{}).AllPages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ss, err := snapshots.ExtractSnapshots(pages)
	if err != nil {
		t.Fatal(err)
	}
	return ss
}
