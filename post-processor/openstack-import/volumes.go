package openstackimport

import (
	"context"
	"fmt"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/chromogenic/packer-plugin-chromogenic/common/artifact"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
)

// pushOtherDisks pushes the other disks of a guest on several disks (the artifact's
// image_paths after the boot disk, as chromogenic-openstack's disks = "all" or
// chromogenic-local's source_paths give them) as Cinder volumes: each is uploaded to a
// temporary Glance image (image_disk_format, private), a volume named <image_name>-disk<N>
// of the disk's size rounded up to GiB is created from it, and the temporary image is
// deleted once the volume is available. They are read from the same list and format as the
// boot disk the import chose; when the import reads the boot disk from elsewhere (an OVA,
// another format), the others are not pushed and the UI says so. On failure every volume and
// image it made is deleted; on success the volumes are the caller's (undo deletes them).
func (p *PostProcessor) pushOtherDisks(ctx context.Context, ui packersdk.Ui, clients *cloud.Clients, in packersdk.Artifact, local *artifact.LocalInput) (ids []string, undo func(), err error) {
	c := &p.config
	undo = func() {}
	paths, format, err := artifact.LocalImages(in)
	if err != nil || len(paths) < 2 {
		return nil, undo, nil
	}
	if format == "" {
		format = local.Format
	}
	if paths[0] != local.Path || local.Format == "ova" || format != local.Format {
		ui.Say(artifact.OtherDisksNote(in) + fmt.Sprintf(" (the boot disk is read from %s, not from the list of disks)", local))
		return nil, undo, nil
	}
	bs, err := cloud.BlockStorage(clients)
	if err != nil {
		return nil, undo, fmt.Errorf("the guest has %d disks, the others become Cinder volumes: %w", len(paths), err)
	}
	ui.Say(fmt.Sprintf("The guest has %d disks: the boot disk becomes the image, the other %d Cinder volumes", len(paths), len(paths)-1))
	undo = func() {
		for _, id := range ids {
			dctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			ui.Say("Deleting volume " + id + "...")
			if derr := cloud.DeleteVolume(dctx, bs, id); derr != nil {
				ui.Error(derr.Error())
			}
			cancel()
		}
	}
	for i, path := range paths[1:] {
		id, perr := p.pushVolume(ctx, ui, clients, bs, path, format, fmt.Sprintf("%s-disk%d", c.ImageName, i+2))
		if id != "" {
			ids = append(ids, id)
		}
		if perr != nil {
			undo()
			return nil, func() {}, fmt.Errorf("disk %d of %d, %s: %w", i+2, len(paths), path, perr)
		}
	}
	return ids, undo, nil
}

// pushVolume uploads one disk to a temporary image, makes the volume name from it and deletes
// the image. It returns the volume's id as soon as the volume exists (the caller deletes it
// on a later failure).
func (p *PostProcessor) pushVolume(ctx context.Context, ui packersdk.Ui, clients *cloud.Clients, bs *gophercloud.ServiceClient, path, format, name string) (string, error) {
	c := &p.config
	img, err := diskimage.OpenDisk(path, format)
	if err != nil {
		return "", err
	}
	size := img.Size()
	n := cloud.NewImage{Name: name, DiskFormat: c.ImageDiskFormat, Visibility: "private"}
	ui.Say(fmt.Sprintf("Uploading %s (%s) to a temporary image %q...", path, format, name))
	up, err := p.convertAndUpload(ctx, ui, clients, img, nil, n, nil)
	img.Close()
	if err != nil {
		return "", err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		ui.Say("Deleting the temporary image " + up.ID + "...")
		if derr := cloud.DeleteImage(dctx, clients.Image, up.ID); derr != nil {
			ui.Error(derr.Error())
		}
	}()
	gib := int((size + 1<<30 - 1) >> 30)
	if gib < 1 {
		gib = 1
	}
	ui.Say(fmt.Sprintf("Creating volume %s (%d GiB) from image %s...", name, gib, up.ID))
	v, err := volumes.Create(ctx, bs, volumes.CreateOpts{Name: name, Size: gib, ImageID: up.ID,
		Description: "made by chromogenic-openstack-import from " + path}, nil).Extract()
	if err != nil {
		return "", fmt.Errorf("create volume %s from image %s: %w", name, up.ID, err)
	}
	wctx, cancel := context.WithTimeout(ctx, c.StateTimeout)
	defer cancel()
	start := time.Now()
	if _, err := cloud.WaitVolume(wctx, bs, v.ID, "available", func(st string) {
		ui.Message(fmt.Sprintf("Volume %s: %s (%s)", v.ID, st, time.Since(start).Round(time.Second)))
	}, "creating", "downloading"); err != nil {
		return v.ID, cloud.TimeoutErr(ctx, err, "state_timeout", c.StateTimeout)
	}
	ui.Say(fmt.Sprintf("Volume %s (%s) is available", name, v.ID))
	return v.ID, nil
}
