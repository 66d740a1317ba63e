package openstack

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	gos "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/snapshots"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/volumeattach"
)

// BlockStorage is the Cinder (block-storage v3) client of c, found in the catalog the way
// the compute and image clients were.
func BlockStorage(c *Clients) (*gophercloud.ServiceClient, error) {
	bs, err := gos.NewBlockStorageV3(c.Provider, c.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("block-storage (Cinder) endpoint: %w", err)
	}
	return bs, nil
}

// ServerVolumes lists the volumes attached to a server (Nova's os-volume_attachments), in
// the kernel's order of their device names (vdb, vdc, ..., vdz, vdaa).
func ServerVolumes(ctx context.Context, compute *gophercloud.ServiceClient, serverID string) ([]volumeattach.VolumeAttachment, error) {
	pages, err := volumeattach.List(compute, serverID).AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list the volumes attached to server %s: %w", serverID, err)
	}
	atts, err := volumeattach.ExtractVolumeAttachments(pages)
	if err != nil {
		return nil, fmt.Errorf("list the volumes attached to server %s: %w", serverID, err)
	}
	sort.SliceStable(atts, func(i, j int) bool {
		a, b := atts[i].Device, atts[j].Device
		if len(a) != len(b) {
			return len(a) < len(b)
		}
		return a < b
	})
	return atts, nil
}

// SnapshotVolume takes a Cinder snapshot of a volume, in use or not (force), and returns
// its id without waiting.
func SnapshotVolume(ctx context.Context, bs *gophercloud.ServiceClient, volumeID, name, description string) (string, error) {
	s, err := snapshots.Create(ctx, bs, snapshots.CreateOpts{VolumeID: volumeID, Name: name,
		Description: description, Force: true}).Extract()
	if err != nil {
		return "", fmt.Errorf("snapshot volume %s: %w", volumeID, err)
	}
	return s.ID, nil
}

// VolumeFromSnapshot creates a volume from a Cinder snapshot and returns its id without
// waiting.
func VolumeFromSnapshot(ctx context.Context, bs *gophercloud.ServiceClient, snapshotID string, size int, name, description string) (string, error) {
	v, err := volumes.Create(ctx, bs, volumes.CreateOpts{SnapshotID: snapshotID, Size: size, Name: name,
		Description: description}, nil).Extract()
	if err != nil {
		return "", fmt.Errorf("create a volume from snapshot %s: %w", snapshotID, err)
	}
	return v.ID, nil
}

// UploadVolume copies a volume into a new Glance image (os-volume_upload_image, raw) and
// returns the image's id without waiting; the volume is "uploading" meanwhile.
func UploadVolume(ctx context.Context, bs *gophercloud.ServiceClient, volumeID, imageName string) (string, error) {
	vi, err := volumes.UploadImage(ctx, bs, volumeID, volumes.UploadImageOpts{ImageName: imageName,
		DiskFormat: "raw", ContainerFormat: "bare"}).Extract()
	if err != nil {
		return "", fmt.Errorf("upload volume %s to an image: %w", volumeID, err)
	}
	if vi.ImageID == "" {
		return "", fmt.Errorf("upload volume %s to an image: Cinder named no image", volumeID)
	}
	return vi.ImageID, nil
}

// WaitSnapshot polls a Cinder snapshot until it is available; error and a 404 are errors, so
// is the context ending. status, if set, sees each new status.
func WaitSnapshot(ctx context.Context, bs *gophercloud.ServiceClient, id string, status func(string)) (*snapshots.Snapshot, error) {
	var got *snapshots.Snapshot
	err := pollStatus(ctx, "volume snapshot "+id, status, func() (string, error) {
		s, err := snapshots.Get(ctx, bs, id).Extract()
		if err != nil {
			return "", err
		}
		got = s
		return s.Status, nil
	}, "available", "creating")
	return got, err
}

// WaitVolume polls a volume until its status is want (available, in-use); a status other
// than want or one of pending, a 404 and the context ending are errors.
func WaitVolume(ctx context.Context, bs *gophercloud.ServiceClient, id, want string, status func(string), pending ...string) (*volumes.Volume, error) {
	var got *volumes.Volume
	err := pollStatus(ctx, "volume "+id, status, func() (string, error) {
		v, err := volumes.Get(ctx, bs, id).Extract()
		if err != nil {
			return "", err
		}
		got = v
		return v.Status, nil
	}, want, pending...)
	return got, err
}

// volumePoll is how often the volume and snapshot waits ask Cinder (tests shorten it).
var volumePoll = 2 * time.Second

func pollStatus(ctx context.Context, what string, status func(string), get func() (string, error), want string, pending ...string) error {
	last := ""
	misses := 0
	for {
		st, err := get()
		switch {
		case err == nil:
			misses = 0
			if st != last {
				last = st
				if status != nil {
					status(st)
				}
			}
			if st == want {
				return nil
			}
			ok := false
			for _, p := range pending {
				ok = ok || st == p
			}
			if !ok {
				return fmt.Errorf("%s went to status %s (waiting for %s)", what, st, want)
			}
		case gophercloud.ResponseCodeIs(err, 404):
			return fmt.Errorf("%s disappeared while waiting for it", what)
		default:
			misses++
			if misses > 10 {
				return fmt.Errorf("%s: %w", what, err)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s (status %s): %w", what, last, ctx.Err())
		case <-time.After(volumePoll):
		}
	}
}

// DeleteVolumeSnapshot deletes a Cinder snapshot and waits (bounded by ctx) until it is
// gone; a missing snapshot is not an error.
func DeleteVolumeSnapshot(ctx context.Context, bs *gophercloud.ServiceClient, id string) error {
	return deleteAndWait(ctx, "volume snapshot "+id, func() error {
		return snapshots.Delete(ctx, bs, id).ExtractErr()
	}, func() (string, error) {
		s, err := snapshots.Get(ctx, bs, id).Extract()
		if err != nil {
			return "", err
		}
		return s.Status, nil
	})
}

// DeleteVolume deletes a volume and waits (bounded by ctx) until it is gone; a missing
// volume is not an error. A volume still busy (uploading, creating) is retried until ctx ends.
func DeleteVolume(ctx context.Context, bs *gophercloud.ServiceClient, id string) error {
	return deleteAndWait(ctx, "volume "+id, func() error {
		return volumes.Delete(ctx, bs, id, volumes.DeleteOpts{}).ExtractErr()
	}, func() (string, error) {
		v, err := volumes.Get(ctx, bs, id).Extract()
		if err != nil {
			return "", err
		}
		return v.Status, nil
	})
}

func deleteAndWait(ctx context.Context, what string, del func() error, get func() (string, error)) error {
	deleted := false
	last := ""
	for {
		if !deleted {
			err := del()
			switch {
			case err == nil:
				deleted = true
			case gophercloud.ResponseCodeIs(err, 404):
				return nil
			case gophercloud.ResponseCodeIs(err, 400):
				// not deletable in its current status (still creating, uploading): retry
			default:
				return fmt.Errorf("delete %s: %w", what, err)
			}
		}
		st, err := get()
		switch {
		case gophercloud.ResponseCodeIs(err, 404):
			return nil
		case err == nil:
			last = st
			if deleted && st == "error_deleting" {
				return fmt.Errorf("delete %s: it went to status %s", what, st)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("delete %s (status %s): %w", what, last, ctx.Err())
		case <-time.After(volumePoll):
		}
	}
}
