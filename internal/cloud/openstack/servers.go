package openstack

import (
	"context"
	"fmt"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
)

// FindServer returns the server with the given ID, or else the only one with that name.
// Errors name the server, not a template field: callers add the field or flag they read.
func FindServer(ctx context.Context, c *gophercloud.ServiceClient, id, name string) (*servers.Server, error) {
	if id != "" {
		s, err := servers.Get(ctx, c, id).Extract()
		if err != nil {
			if gophercloud.ResponseCodeIs(err, 404) {
				return nil, fmt.Errorf("server %s: no such server", id)
			}
			return nil, fmt.Errorf("server %s: %w", id, err)
		}
		return s, nil
	}
	pages, err := servers.List(c, servers.ListOpts{Name: "^" + regexpQuote(name) + "$"}).AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("server named %q: %w", name, err)
	}
	all, err := servers.ExtractServers(pages)
	if err != nil {
		return nil, err
	}
	var match []servers.Server
	for _, s := range all {
		if s.Name == name {
			match = append(match, s)
		}
	}
	switch len(match) {
	case 0:
		return nil, fmt.Errorf("server named %q: no such server", name)
	case 1:
		return &match[0], nil
	}
	return nil, fmt.Errorf("server named %q: %d servers have that name; give its ID", name, len(match))
}

// regexpQuote escapes the regular-expression characters of a Nova name filter.
func regexpQuote(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\', '.', '+', '*', '?', '(', ')', '|', '[', ']', '{', '}', '^', '$':
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// Snapshot asks Nova to snapshot a server into a new Glance image and returns its ID.
// The server itself is not changed (Nova may pause it briefly for a consistent copy).
func Snapshot(ctx context.Context, c *gophercloud.ServiceClient, serverID, name string, metadata map[string]string) (string, error) {
	id, err := servers.CreateImage(ctx, c, serverID, servers.CreateImageOpts{Name: name, Metadata: metadata}).ExtractImageID()
	if err != nil {
		return "", fmt.Errorf("snapshot server %s: %w", serverID, err)
	}
	return id, nil
}
