// Package openstacktest gives acceptance tests the project's all-in-one OpenStack
// (test/openstack-aio: real Keystone, Glance, Placement and Nova with libvirt/QEMU on
// 127.0.0.1) and helpers that act on it through gophercloud: upload an image, boot a server,
// read an image's data back.
package openstacktest

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/imagedata"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testimages"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

var (
	once       sync.Once
	cloudsFile string
	setupErr   error
)

// CloudsFile sets up and starts the all-in-one cloud (once per test binary; seconds when it is
// already installed) and returns its clouds.yaml, with the clouds aio-a, aio-b and aio-admin.
func CloudsFile(t testing.TB) string {
	t.Helper()
	testtier.Acceptance(t, "the all-in-one OpenStack cloud")
	once.Do(func() {
		root := testimages.RepoRoot()
		cmd := exec.Command("bash", filepath.Join(root, "test", "openstack-aio", "setup.sh"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			setupErr = fmt.Errorf("test/openstack-aio/setup.sh: %v\n%s", err, tail(string(out), 4000))
			return
		}
		cache := os.Getenv("CHROMOGENIC_CACHE")
		if cache == "" {
			cache = "/var/cache/chromogenic"
		}
		cloudsFile = filepath.Join(cache, "openstack-aio", "clouds.yaml")
	})
	if setupErr != nil {
		t.Fatal(setupErr)
	}
	return cloudsFile
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// Connect returns clients of one cloud of the all-in-one clouds.yaml.
func Connect(t testing.TB, name string) *cloud.Clients {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := cloud.Connect(ctx, cloud.Auth{Cloud: name, CloudsFile: CloudsFile(t)})
	if err != nil {
		t.Fatalf("connect to %s: %v", name, err)
	}
	return c
}

// UploadImage uploads a local image file and deletes it when the test ends.
func UploadImage(t testing.TB, c *cloud.Clients, name, path, diskFormat string) *images.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	img, err := cloud.Upload(ctx, c.Image, cloud.NewImage{Name: name, DiskFormat: diskFormat,
		Properties: map[string]string{"os_distro": "debian", "os_version": "12", "hw_disk_bus": "virtio"}}, f, nil)
	if err != nil {
		t.Fatalf("upload %s: %v", path, err)
	}
	t.Cleanup(func() { DeleteImage(t, c, img.ID) })
	return img
}

// DeleteImage deletes an image, ignoring a missing one.
func DeleteImage(t testing.TB, c *cloud.Clients, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cloud.DeleteImage(ctx, c.Image, id); err != nil {
		t.Errorf("cleanup: %v", err)
	}
}

// BootServer boots a server from an image with the m1.small flavor and no network (the
// all-in-one cloud has no Neutron), waits until it is ACTIVE and deletes it when the test
// ends.
func BootServer(t testing.TB, c *cloud.Clients, name, imageID string) *servers.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	srv, del, err := bootServer(ctx, c, name, imageID)
	if del != nil {
		t.Cleanup(del)
	}
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// bootServer creates the server and waits until it is ACTIVE (an ERROR status ends the wait
// with the server's fault). del, non-nil once the server exists, deletes it and waits until
// it is gone; it is safe to call more than once.
func bootServer(ctx context.Context, c *cloud.Clients, name, imageID string) (srv *servers.Server, del func(), err error) {
	compute := *c.Compute
	compute.Microversion = "2.37"
	fid, err := flavorID(ctx, &compute, "m1.small")
	if err != nil {
		return nil, nil, err
	}
	created, err := servers.Create(ctx, &compute, servers.CreateOpts{Name: name, ImageRef: imageID,
		FlavorRef: fid, Networks: "none"}, nil).Extract()
	if err != nil {
		return nil, nil, fmt.Errorf("create server: %v", err)
	}
	var once sync.Once
	del = func() {
		once.Do(func() {
			dctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			servers.Delete(dctx, &compute, created.ID)
			for dctx.Err() == nil {
				if _, err := servers.Get(dctx, &compute, created.ID).Extract(); gophercloud.ResponseCodeIs(err, 404) {
					return
				}
				time.Sleep(time.Second)
			}
		})
	}
	for {
		srv, err = servers.Get(ctx, &compute, created.ID).Extract()
		switch {
		case err != nil:
			return nil, del, fmt.Errorf("server %s never became ACTIVE: %v", created.ID, err)
		case srv.Status == "ACTIVE":
			return srv, del, nil
		case srv.Status == "ERROR":
			return nil, del, fmt.Errorf("server %s went ERROR: %s", created.ID, srv.Fault.Message)
		}
		select {
		case <-ctx.Done():
			return nil, del, fmt.Errorf("server %s never became ACTIVE (status %s): %v", created.ID, srv.Status, ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
}

func flavorID(ctx context.Context, c *gophercloud.ServiceClient, name string) (string, error) {
	pages, err := flavors.ListDetail(c, nil).AllPages(ctx)
	if err != nil {
		return "", err
	}
	all, err := flavors.ExtractFlavors(pages)
	if err != nil {
		return "", err
	}
	for _, f := range all {
		if f.Name == name {
			return f.ID, nil
		}
	}
	return "", fmt.Errorf("flavor %s not found", name)
}

// DownloadImage saves an image's data to path.
func DownloadImage(t testing.TB, c *cloud.Clients, id, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	body, err := imagedata.Download(ctx, c.Image, id).Extract()
	if err != nil {
		t.Fatalf("download %s: %v", id, err)
	}
	defer body.Close()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, body); err != nil {
		t.Fatalf("download %s: %v", id, err)
	}
}

// ListImages lists the images of the client's project.
func ListImages(t testing.TB, c *cloud.Clients) []images.Image {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pages, err := images.List(c.Image, images.ListOpts{}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, err := images.ExtractImages(pages)
	if err != nil {
		t.Fatal(err)
	}
	return all
}
