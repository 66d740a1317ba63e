package openstack

import (
	"context"
	"fmt"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
)

// SetMinimums sets the min_disk (GiB) and min_ram (MiB) of an existing image (a snapshot).
func SetMinimums(ctx context.Context, c *gophercloud.ServiceClient, id string, minDisk, minRAM int) error {
	ops := images.UpdateOpts{images.ReplaceImageMinDisk{NewMinDisk: minDisk}, images.ReplaceImageMinRam{NewMinRam: minRAM}}
	if _, err := images.Update(ctx, c, id, ops).Extract(); err != nil {
		return fmt.Errorf("set min_disk %d and min_ram %d on image %s: %w", minDisk, minRAM, id, err)
	}
	return nil
}
