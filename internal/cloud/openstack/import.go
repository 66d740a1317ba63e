package openstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/imagedata"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/members"
)

// Glance has two ways of receiving image data: the plain upload (PUT /v2/images/{id}/file,
// Upload) and the interoperable image import (stage the data with PUT
// /v2/images/{id}/stage, then POST /v2/images/{id}/import with method glance-direct), which
// is what public clouds that disable the plain upload accept, and which runs the cloud's
// import plugins (format checks, conversion, metadata injection).

const (
	// MethodUpload is the plain upload.
	MethodUpload = "upload"
	// MethodGlanceDirect is the interoperable image import with staged data.
	MethodGlanceDirect = "glance-direct"
)

// ImportMethods returns the import methods the cloud enables (GET /v2/info/import).
func ImportMethods(ctx context.Context, c *gophercloud.ServiceClient) ([]string, error) {
	var body struct {
		Methods struct {
			Value []string `json:"value"`
		} `json:"import-methods"`
	}
	resp, err := c.Get(ctx, c.ServiceURL("info", "import"), &body, nil)
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			return nil, fmt.Errorf("this Glance has no image import API (GET /v2/info/import: 404)")
		}
		return nil, fmt.Errorf("list import methods: %w", err)
	}
	return body.Methods.Value, nil
}

// UploadWith creates an image with n's settings and sends data with the given method
// (MethodUpload or "" for the plain upload, MethodGlanceDirect for stage + import), then
// waits until it is active. On any failure the image is deleted.
func UploadWith(ctx context.Context, c *gophercloud.ServiceClient, method string, n NewImage, data io.Reader, status func(string)) (*images.Image, error) {
	switch method {
	case "", MethodUpload:
		return Upload(ctx, c, n, data, status)
	case MethodGlanceDirect:
		return importDirect(ctx, c, n, data, status)
	}
	return nil, fmt.Errorf("import method %q: want %s or %s", method, MethodUpload, MethodGlanceDirect)
}

func importDirect(ctx context.Context, c *gophercloud.ServiceClient, n NewImage, data io.Reader, status func(string)) (img *images.Image, err error) {
	enabled, err := ImportMethods(ctx, c)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(enabled, MethodGlanceDirect) {
		return nil, fmt.Errorf("this Glance does not enable the %s import method (enabled: %s); use the plain upload", MethodGlanceDirect, strings.Join(enabled, ", "))
	}
	vis := images.ImageVisibility(n.Visibility)
	if vis == "" {
		vis = images.ImageVisibilityPrivate
	}
	cf := n.ContainerFormat
	if cf == "" {
		cf = "bare"
	}
	// The ID is chosen here so that a creation answered by an error can still be cleaned up
	// (as Upload does).
	id := newImageID()
	created, err := images.Create(ctx, c, images.CreateOpts{
		ID: id, Name: n.Name, DiskFormat: n.DiskFormat, ContainerFormat: cf, Visibility: &vis,
		Tags: n.Tags, MinDisk: n.MinDisk, MinRAM: n.MinRAM, Properties: n.Properties,
	}).Extract()
	if err != nil {
		var code gophercloud.ErrUnexpectedResponseCode
		if !errors.As(err, &code) || code.Actual >= 500 {
			dctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			DeleteImage(dctx, c, id)
			cancel()
		}
		return nil, fmt.Errorf("create image %q: %w", n.Name, err)
	}
	defer func() {
		if err != nil {
			dctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			DeleteImage(dctx, c, created.ID)
			cancel()
		}
	}()
	if status != nil {
		status("staging data for " + created.ID)
	}
	if err := imagedata.Stage(ctx, c, created.ID, data).ExtractErr(); err != nil {
		return nil, fmt.Errorf("stage image data of %s: %w", created.ID, err)
	}
	body := map[string]any{"method": map[string]any{"name": MethodGlanceDirect}}
	if _, err := c.Post(ctx, c.ServiceURL("images", created.ID, "import"), body, nil, &gophercloud.RequestOpts{OkCodes: []int{202}}); err != nil {
		return nil, fmt.Errorf("import image %s (%s): %w", created.ID, MethodGlanceDirect, err)
	}
	img, err = waitImport(ctx, c, created.ID, status)
	if err != nil {
		return nil, err
	}
	for _, m := range n.Members {
		if _, err := members.Create(ctx, c, img.ID, m).Extract(); err != nil {
			return nil, fmt.Errorf("share image %s with %s: %w", img.ID, m, err)
		}
	}
	return img, nil
}

// waitImport polls an image under import until it is active. A failed import shows as the
// os_glance_failed_import property (the image goes back to queued).
func waitImport(ctx context.Context, c *gophercloud.ServiceClient, id string, status func(string)) (*images.Image, error) {
	last := ""
	misses := 0
	for {
		img, err := images.Get(ctx, c, id).Extract()
		switch {
		case err == nil:
			misses = 0
			if string(img.Status) != last {
				last = string(img.Status)
				if status != nil {
					status(last)
				}
			}
			if failed, _ := img.Properties["os_glance_failed_import"].(string); failed != "" {
				return nil, fmt.Errorf("image %s: the import to store(s) %s failed (status %s); the Glance log says why", id, failed, img.Status)
			}
			switch img.Status {
			case images.ImageStatusActive:
				return img, nil
			case images.ImageStatusKilled, images.ImageStatusDeleted, images.ImageStatusDeactivated, "pending_delete":
				return nil, fmt.Errorf("image %s went to status %s during the import", id, img.Status)
			}
		case gophercloud.ResponseCodeIs(err, 404):
			return nil, fmt.Errorf("image %s disappeared during the import", id)
		default:
			misses++
			if misses > 10 {
				return nil, fmt.Errorf("image %s: %w", id, err)
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the import of image %s (status %s): %w", id, last, ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
}
