package openstack

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/imagedata"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
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

func importDirect(ctx context.Context, c *gophercloud.ServiceClient, n NewImage, data io.Reader, status func(string)) (*images.Image, error) {
	enabled, err := ImportMethods(ctx, c)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(enabled, MethodGlanceDirect) {
		return nil, fmt.Errorf("this Glance does not enable the %s import method (enabled: %s); use the plain upload", MethodGlanceDirect, strings.Join(enabled, ", "))
	}
	return createAndFill(ctx, c, n, status, func(id string) (*images.Image, error) {
		if status != nil {
			status("staging data for " + id)
		}
		if err := imagedata.Stage(ctx, c, id, data).ExtractErr(); err != nil {
			return nil, fmt.Errorf("stage image data of %s: %w", id, err)
		}
		body := map[string]any{"method": map[string]any{"name": MethodGlanceDirect}}
		if _, err := c.Post(ctx, c.ServiceURL("images", id, "import"), body, nil, &gophercloud.RequestOpts{OkCodes: []int{202}}); err != nil {
			return nil, fmt.Errorf("import image %s (%s): %w", id, MethodGlanceDirect, err)
		}
		return waitImport(ctx, c, id, status)
	})
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
