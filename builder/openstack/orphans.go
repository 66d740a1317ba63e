package openstack

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
)

// snapshotsNamed returns the IDs of the server's snapshots with that name.
func snapshotsNamed(ctx context.Context, c *cloud.Clients, serverID, name string) (map[string]bool, error) {
	found, err := cloud.FindImages(ctx, c.Image, cloud.ImageFilter{Name: name})
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, img := range found {
		if fmt.Sprint(img.Properties["instance_uuid"]) == serverID {
			ids[img.ID] = true
		}
	}
	return ids, nil
}

// deleteOrphanSnapshots deletes a snapshot Nova registered although createImage was answered
// by an error (a 5xx after the fact, a dropped connection): a snapshot of the server with the
// name asked for that was not there before. A 4xx means Nova refused: nothing to look for.
func deleteOrphanSnapshots(ui packersdk.Ui, c *cloud.Clients, serverID, name string, before map[string]bool, cause error) {
	var code gophercloud.ErrUnexpectedResponseCode
	if errors.As(cause, &code) && code.Actual < 500 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	now, err := snapshotsNamed(ctx, c, serverID, name)
	if err != nil {
		ui.Error(fmt.Sprintf("could not look for a snapshot %s left by the failed request: %v", name, err))
		return
	}
	for id := range now {
		if before[id] {
			continue
		}
		ui.Say(fmt.Sprintf("Deleting snapshot %s, registered although the request failed...", id))
		if err := cloud.DeleteImage(ctx, c.Image, id); err != nil {
			ui.Error(err.Error())
		}
	}
}
