package openstackimport

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact"
	"github.com/chromogenic/packer-plugin-chromogenic/common/progress"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/transfer"
)

// migrate copies a Glance image of the source cloud into the target cloud:
//
//   - same disk format: the download streams straight into the upload, nothing local; the
//     download is hashed and a mismatch with the source's os_hash_value fails the last read
//     (aborting the upload), and the target's own hash must then equal the source's;
//   - a source format the image engine reads through an io.ReaderAt
//     (diskimage.ReaderAtFormats: qcow2, raw, vhd, vmdk), other target format: the source
//     is read in place through HTTP Range requests (cloud.RangeReader), converted by the
//     image engine and streamed into the upload (or through a temporary file of the target
//     format when that format cannot stream); the whole source file's hash is verified
//     before the upload sees its end;
//   - other source formats (ami, or a Glance that refuses Range requests): downloaded to a
//     sparse temporary file (holes stay holes), hashed, then converted as a local image.
//
// The new image carries the source's properties (os_distro, hw_*, architecture...),
// min_disk and min_ram, overridden by the settings.
func (p *PostProcessor) migrate(ctx context.Context, ui packersdk.Ui, target *cloud.Clients, s sourceResult) (*images.Image, error) {
	c := &p.config
	if s.err != nil {
		return nil, s.err
	}
	source, src, id := s.clients, s.img, s.img.ID
	switch {
	case src.Status != images.ImageStatusActive:
		return nil, fmt.Errorf("source image %s is %s, not active", id, src.Status)
	case src.SizeBytes == 0:
		return nil, fmt.Errorf("source image %s has no data (a snapshot of a boot-from-volume server?): nothing to migrate", id)
	}
	format := c.ImageDiskFormat
	if !c.diskFormatSet {
		format = src.DiskFormat
		if _, err := diskimage.LookupWriter(format); err != nil {
			return nil, fmt.Errorf("source image %s has disk_format %q; set image_disk_format to convert it", id, format)
		}
	}
	n, err := c.newImage(src, format, src.VirtualSize)
	if err != nil {
		return nil, err
	}
	ui.Say(fmt.Sprintf("Migrating image %s (%s, %s, %d MiB) to image %q (%s, %s, %s)...",
		src.ID, src.Name, src.DiskFormat, src.SizeBytes>>20, c.ImageName, format, c.ImageVisibility, c.ImportMethod))

	if src.DiskFormat == format {
		return p.passThrough(ctx, ui, source, target, src, n)
	}
	if slices.Contains(diskimage.ReaderAtFormats(), src.DiskFormat) {
		img, err := p.convertRanged(ctx, ui, source, target, src, n)
		if !errors.Is(err, cloud.ErrNoRange) {
			return img, err
		}
		ui.Message(fmt.Sprintf("%v: downloading the image to a temporary file instead", err))
	}
	return p.convertSpooled(ctx, ui, source, target, src, n)
}

// sourceResult is the source cloud's clients and the image to migrate.
type sourceResult struct {
	clients *cloud.Clients
	img     *images.Image
	err     error
}

// connectSource authenticates to the source cloud and looks the image up.
func (p *PostProcessor) connectSource(ctx context.Context, id string) sourceResult {
	source, err := cloud.Connect(ctx, p.config.Source.Auth())
	if err != nil {
		return sourceResult{err: fmt.Errorf("source: %w", err)}
	}
	src, err := cloud.GetImage(ctx, source.Image, id)
	if err != nil {
		return sourceResult{err: fmt.Errorf("source: %w", err)}
	}
	return sourceResult{clients: source, img: src}
}

func (p *PostProcessor) passThrough(ctx context.Context, ui packersdk.Ui, source, target *cloud.Clients, src *images.Image, n cloud.NewImage) (*images.Image, error) {
	body, err := cloud.Download(ctx, source.Image, src)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	// The target hashed what it stored; it must be what the source holds, before the image
	// gets its visibility (a mismatch deletes it).
	n.Verify = func(img *images.Image) error { return sameHash(src, img) }
	// The download runs up to 32 MiB ahead of the upload (cloud.UploadImage's read-ahead), so
	// that neither waits for the other's every round trip.
	return p.upload(ctx, ui, target, cloud.UploadInput{Image: n, Data: body, Size: src.SizeBytes})
}

func sameHash(src, dst *images.Image) error {
	sa, _ := src.Properties["os_hash_algo"].(string)
	sv, _ := src.Properties["os_hash_value"].(string)
	da, _ := dst.Properties["os_hash_algo"].(string)
	dv, _ := dst.Properties["os_hash_value"].(string)
	switch {
	case sa != "" && sa == da && sv != "" && dv != "":
		if sv != dv {
			return fmt.Errorf("target image %s: %s %s differs from the source's %s", dst.ID, da, dv, sv)
		}
	case src.Checksum != "" && dst.Checksum != "" && src.Checksum != dst.Checksum:
		return fmt.Errorf("target image %s: md5 %s differs from the source's %s", dst.ID, dst.Checksum, src.Checksum)
	}
	if src.SizeBytes != dst.SizeBytes {
		return fmt.Errorf("target image %s holds %d bytes, the source %d", dst.ID, dst.SizeBytes, src.SizeBytes)
	}
	return nil
}

func (p *PostProcessor) convertRanged(ctx context.Context, ui packersdk.Ui, source, target *cloud.Clients, src *images.Image, n cloud.NewImage) (*images.Image, error) {
	rr, err := cloud.OpenRange(ctx, source.Image, src)
	if err != nil {
		return nil, err
	}
	disk, err := transfer.OpenRanged(rr, src.DiskFormat)
	if err != nil {
		rr.Close()
		return nil, fmt.Errorf("source image %s: %w", src.ID, err)
	}
	defer disk.Close()
	verify := func() error {
		report, err := disk.Verify()
		if err != nil {
			return err
		}
		ui.Message("Source image " + src.ID + ": " + report)
		return nil
	}
	return p.convertAndUpload(ctx, ui, target, disk, nil, n, verify)
}

func (p *PostProcessor) convertSpooled(ctx context.Context, ui packersdk.Ui, source, target *cloud.Clients, src *images.Image, n cloud.NewImage) (*images.Image, error) {
	dir, err := os.MkdirTemp("", "chromogenic-import-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	spool := filepath.Join(dir, "source."+src.DiskFormat)
	body, err := cloud.Download(ctx, source.Image, src)
	if err != nil {
		return nil, err
	}
	bar := progress.New(ui, "download "+src.ID, src.SizeBytes)
	err = transfer.SpoolSparse(ctx, spool, 0o600, transfer.Counting(body, src.SizeBytes, bar.Update))
	bar.Close()
	body.Close()
	if err != nil {
		return nil, err
	}
	disk, err := diskimage.OpenFormat(spool, src.DiskFormat)
	if err != nil {
		return nil, fmt.Errorf("source image %s: %w", src.ID, err)
	}
	defer disk.Close()
	return p.convertAndUpload(ctx, ui, target, disk, &artifact.LocalInput{Path: spool, Format: src.DiskFormat}, n, nil)
}
