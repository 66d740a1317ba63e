package openstack

import (
	"context"
	"fmt"
	"slices"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/members"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
)

// externalKernelProps are the properties by which Nova boots an image with a separate
// kernel and ramdisk (the AMI/AKI/ARI shape).
var externalKernelProps = []string{"kernel_id", "ramdisk_id"}

// externalKernel returns the kernel_id and ramdisk_id src carries (nil if none).
func externalKernel(src *images.Image) map[string]string {
	var out map[string]string
	for _, k := range externalKernelProps {
		if v, ok := src.Properties[k].(string); ok && v != "" {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

// kernelVisibilityWarnings says which of the carried kernel and ramdisk images the projects
// that will see the new image (its visibility, its members: project IDs) cannot see, so
// cannot boot it with: a public or community image is seen by all; a shared one by its
// members (and its owner); a private one by its owner only.
func kernelVisibilityWarnings(ctx context.Context, clients *cloud.Clients, carried map[string]string, visibility string, shareWith []string) []string {
	if visibility == "private" || visibility == "" {
		return nil
	}
	var out []string
	for _, prop := range externalKernelProps {
		id := carried[prop]
		if id == "" {
			continue
		}
		ext, err := cloud.GetImage(ctx, clients.Image, id)
		if err != nil {
			out = append(out, fmt.Sprintf("%s %s: cannot check who sees it: %v", prop, id, err))
			continue
		}
		v := string(ext.Visibility)
		if v == "public" || v == "community" {
			continue
		}
		if v == "private" || visibility != "shared" {
			out = append(out, fmt.Sprintf("the new image is %s but its %s %s is %s: projects other than %s see the image and cannot boot it (make the kernel and ramdisk %s too)",
				visibility, prop, id, v, ext.Owner, visibility))
			continue
		}
		// Both shared: every member of the new image must be a member of the kernel.
		page, err := members.List(clients.Image, id).AllPages(ctx)
		var have []members.Member
		if err == nil {
			have, err = members.ExtractMembers(page)
		}
		if err != nil {
			out = append(out, fmt.Sprintf("%s %s is shared: cannot list its members: %v", prop, id, err))
			continue
		}
		var ids []string
		for _, m := range have {
			if m.Status != "rejected" {
				ids = append(ids, m.MemberID)
			}
		}
		for _, m := range shareWith {
			if m != ext.Owner && !slices.Contains(ids, m) {
				out = append(out, fmt.Sprintf("project %s is a member of the new image but not of its %s %s: it cannot boot the image", m, prop, id))
			}
		}
	}
	return out
}
