package openstack

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/imagedata"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/members"
)

// ImageFilter selects images like the packer-plugin-openstack source_image_filter.
type ImageFilter struct {
	Name       string
	Owner      string
	Visibility string
	Tags       []string
	Properties map[string]string
	MostRecent bool
}

// GetImage returns one image by ID.
func GetImage(ctx context.Context, c *gophercloud.ServiceClient, id string) (*images.Image, error) {
	img, err := images.Get(ctx, c, id).Extract()
	if err != nil {
		if gophercloud.ResponseCodeIs(err, 404) {
			return nil, fmt.Errorf("image %s: not found", id)
		}
		return nil, fmt.Errorf("image %s: %w", id, err)
	}
	return img, nil
}

// FindImages lists the images matching f, newest first.
func FindImages(ctx context.Context, c *gophercloud.ServiceClient, f ImageFilter) ([]images.Image, error) {
	opts := images.ListOpts{Name: f.Name, Owner: f.Owner, Tags: f.Tags, Sort: "created_at:desc"}
	if f.Visibility != "" {
		opts.Visibility = images.ImageVisibility(f.Visibility)
	}
	pages, err := images.List(c, opts).AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	all, err := images.ExtractImages(pages)
	if err != nil {
		return nil, err
	}
	var out []images.Image
	for _, img := range all {
		ok := true
		for k, v := range f.Properties {
			if fmt.Sprint(img.Properties[k]) != v {
				ok = false
			}
		}
		if ok {
			out = append(out, img)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	return out, nil
}

// FindImage returns the single image matching f (the newest with MostRecent).
func FindImage(ctx context.Context, c *gophercloud.ServiceClient, f ImageFilter) (*images.Image, error) {
	found, err := FindImages(ctx, c, f)
	if err != nil {
		return nil, err
	}
	switch {
	case len(found) == 0:
		return nil, errors.New("no image matches the filter")
	case len(found) > 1 && !f.MostRecent:
		return nil, fmt.Errorf("%d images match the filter; narrow it or set most_recent", len(found))
	}
	return &found[0], nil
}

// WaitImage polls an image until it is active. Failed states (killed, deleted, deactivated)
// and a 404 are errors; so is the context ending. status, if set, sees each new status.
func WaitImage(ctx context.Context, c *gophercloud.ServiceClient, id string, status func(string)) (*images.Image, error) {
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
			switch img.Status {
			case images.ImageStatusActive:
				return img, nil
			case images.ImageStatusQueued, images.ImageStatusSaving, images.ImageStatusImporting, "uploading":
			default: // killed, deleted, pending_delete, deactivated, or a status this code does not know
				return nil, fmt.Errorf("image %s (%s) went to status %s", id, img.Name, img.Status)
			}
		case gophercloud.ResponseCodeIs(err, 404):
			return nil, fmt.Errorf("image %s disappeared while waiting for it", id)
		default:
			// Transient API errors: tolerate a few in a row, as packer-plugin-openstack does.
			misses++
			if misses > 10 {
				return nil, fmt.Errorf("image %s: %w", id, err)
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for image %s (status %s): %w", id, last, ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
}

// DeleteImage deletes an image; a missing image is not an error.
func DeleteImage(ctx context.Context, c *gophercloud.ServiceClient, id string) error {
	err := images.Delete(ctx, c, id).ExtractErr()
	if err != nil && !gophercloud.ResponseCodeIs(err, 404) {
		return fmt.Errorf("delete image %s: %w", id, err)
	}
	return nil
}

// Download streams an image's data. The returned reader verifies Glance's os_hash_value
// (or the MD5 checksum) at EOF and fails the last Read on a mismatch.
func Download(ctx context.Context, c *gophercloud.ServiceClient, img *images.Image) (io.ReadCloser, error) {
	body, err := imagedata.Download(ctx, c, img.ID).Extract()
	if err != nil {
		return nil, fmt.Errorf("download image %s: %w", img.ID, err)
	}
	algo, want := "", ""
	if v, ok := img.Properties["os_hash_algo"].(string); ok {
		algo = v
		want, _ = img.Properties["os_hash_value"].(string)
	}
	if want == "" && img.Checksum != "" {
		algo, want = "md5", img.Checksum
	}
	h := hashFor(algo)
	if h == nil || want == "" {
		return body, nil
	}
	return &verifyingReader{r: body, h: h, algo: algo, want: strings.ToLower(want), id: img.ID}, nil
}

func hashFor(algo string) hash.Hash {
	switch algo {
	case "sha512":
		return sha512.New()
	case "sha256":
		return sha256.New()
	case "md5":
		return md5.New()
	}
	return nil
}

type verifyingReader struct {
	r          io.ReadCloser
	h          hash.Hash
	algo, want string
	id         string
	n          int64
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if err == io.EOF {
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want {
			return n, fmt.Errorf("image %s: %s of the %d bytes downloaded is %s, Glance says %s", v.id, v.algo, v.n, got, v.want)
		}
	}
	return n, err
}

func (v *verifyingReader) Close() error { return v.r.Close() }

// NewImage describes an image to create.
type NewImage struct {
	Name            string
	DiskFormat      string
	ContainerFormat string // default bare
	Visibility      string // default private
	Tags            []string
	MinDisk, MinRAM int
	Properties      map[string]string
	Members         []string
	// Verify, if set, checks the image once it is active (its hash against the source's,
	// say), before it gets its visibility and members; an error deletes it.
	Verify func(*images.Image) error
}

// Upload creates an image, streams data into it and waits until it is active. On any
// failure the image is deleted, so no half-uploaded image is left behind.
func Upload(ctx context.Context, c *gophercloud.ServiceClient, n NewImage, data io.Reader, status func(string)) (*images.Image, error) {
	return createAndFill(ctx, c, n, status, func(id string) (*images.Image, error) {
		if status != nil {
			status("uploading to " + id)
		}
		if err := imagedata.Upload(ctx, c, id, data).ExtractErr(); err != nil {
			return nil, fmt.Errorf("upload image data to %s (%q): %w", id, n.Name, err)
		}
		return WaitImage(ctx, c, id, status)
	})
}

// createAndFill creates the image record of n, private, has fill bring its data in until it
// is active, has n.Verify check it, and only then gives it n's visibility and shares it with
// n's members: an image that is still queued, saving or importing, or that fails its check,
// was never visible to another project. On any failure the image is deleted, so no half-made
// image is left behind: the ID is chosen here, so that an image whose creation was answered
// by an error (a 5xx after Glance registered it, a dropped connection) can still be found and
// deleted.
func createAndFill(ctx context.Context, c *gophercloud.ServiceClient, n NewImage, status func(string), fill func(id string) (*images.Image, error)) (img *images.Image, err error) {
	want := images.ImageVisibility(n.Visibility)
	if want == "" {
		want = images.ImageVisibilityPrivate
	}
	private := images.ImageVisibilityPrivate
	cf := n.ContainerFormat
	if cf == "" {
		cf = "bare"
	}
	id := newImageID()
	created, err := images.Create(ctx, c, images.CreateOpts{
		ID: id, Name: n.Name, DiskFormat: n.DiskFormat, ContainerFormat: cf, Visibility: &private,
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
			// A fresh context: the build's may be cancelled, and this must still happen.
			dctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			DeleteImage(dctx, c, created.ID)
			cancel()
		}
	}()
	if img, err = fill(created.ID); err != nil {
		return nil, err
	}
	if n.Verify != nil {
		if err = n.Verify(img); err != nil {
			return nil, err
		}
	}
	return Publish(ctx, c, img, string(want), n.Members, status)
}

// Publish gives an active image its visibility, then shares it with members (Glance takes
// members only on a shared image). It is the last step of making an image: nothing is
// visible to another project before.
func Publish(ctx context.Context, c *gophercloud.ServiceClient, img *images.Image, visibility string, shareWith []string, status func(string)) (*images.Image, error) {
	if visibility != "" && images.ImageVisibility(visibility) != img.Visibility {
		if status != nil {
			status("active; setting visibility " + visibility)
		}
		up, err := images.Update(ctx, c, img.ID, images.UpdateOpts{images.UpdateVisibility{Visibility: images.ImageVisibility(visibility)}}).Extract()
		if err != nil {
			return nil, fmt.Errorf("set visibility %s on image %s (%s): %w", visibility, img.ID, img.Name, err)
		}
		img = up
	}
	for _, m := range shareWith {
		if _, err := members.Create(ctx, c, img.ID, m).Extract(); err != nil {
			return nil, fmt.Errorf("share image %s with %s: %w", img.ID, m, err)
		}
	}
	return img, nil
}

// CarriedProperties are the source image properties a new image inherits.
var CarriedProperties = []string{"os_distro", "os_version", "os_type", "os_admin_user", "architecture",
	"hypervisor_type", "vm_mode", "hw_disk_bus", "hw_scsi_model", "hw_vif_model", "hw_firmware_type",
	"hw_machine_type", "hw_qemu_guest_agent", "hw_rng_model", "hw_video_model", "os_require_quiesce"}

// InheritProperties returns the carried properties of src, overridden by extra.
func InheritProperties(src *images.Image, extra map[string]string) map[string]string {
	out := map[string]string{}
	if src != nil {
		for _, k := range CarriedProperties {
			if v, ok := src.Properties[k]; ok && v != nil {
				out[k] = fmt.Sprint(v)
			}
		}
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// UpdateImage applies tags and properties to an existing image (a snapshot); Publish gives
// it its visibility.
func UpdateImage(ctx context.Context, c *gophercloud.ServiceClient, id string, tags []string, props map[string]string) error {
	var ops images.UpdateOpts
	if len(tags) > 0 {
		ops = append(ops, images.ReplaceImageTags{NewTags: tags})
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ops = append(ops, images.UpdateImageProperty{Op: images.AddOp, Name: k, Value: props[k]})
	}
	if len(ops) == 0 {
		return nil
	}
	if _, err := images.Update(ctx, c, id, ops).Extract(); err != nil {
		return fmt.Errorf("update image %s: %w", id, err)
	}
	return nil
}
