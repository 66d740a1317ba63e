package openstack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	gos "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/domains"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
	"github.com/gophercloud/gophercloud/v2/pagination"
)

// hexID is the shape of the project IDs Keystone makes (a UUID4 without dashes).
var hexID = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)

// ResolveMembers turns image member entries (project IDs, project names, or domain/name,
// the domain by name or ID) into project IDs, through Keystone: an entry Keystone knows as a
// project ID is that ID; otherwise it is a project name, listed by name (a name in several
// domains is an error naming them; domain/name picks one). When Keystone refuses the project
// list (its default policy allows it to admins and domain readers), the projects the user
// is a member of are searched by name, and a 32-hex-digit entry is taken as an ID as given.
// field names the option in errors; say, if set, hears how each name was resolved.
func ResolveMembers(ctx context.Context, c *Clients, field string, entries []string, say func(string)) ([]string, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	id, err := gos.NewIdentityV3(c.Provider, c.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("%s: identity endpoint (to look the projects up): %w", field, err)
	}
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		pid, how, err := resolveMember(ctx, id, e)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %w", field, e, err)
		}
		if say != nil && how != "" {
			say(fmt.Sprintf("%s: %q is project %s (%s)", field, e, pid, how))
		}
		out = append(out, pid)
	}
	return out, nil
}

func resolveMember(ctx context.Context, id *gophercloud.ServiceClient, e string) (pid, how string, err error) {
	domain, name, scoped := strings.Cut(e, "/")
	if !scoped {
		domain, name = "", e
		p, err := projects.Get(ctx, id, e).Extract()
		if err == nil {
			return p.ID, "", nil
		}
		if !gophercloud.ResponseCodeIs(err, http.StatusNotFound) && !gophercloud.ResponseCodeIs(err, http.StatusForbidden) {
			return "", "", fmt.Errorf("look it up in Keystone: %w", err)
		}
	}
	found, err := listProjects(ctx, id, projects.List(id, projects.ListOpts{Name: name}))
	how = "found by name"
	if gophercloud.ResponseCodeIs(err, http.StatusForbidden) {
		// Not allowed to list the cloud's projects: the user's own are searched.
		all, aerr := listProjects(ctx, id, projects.ListAvailable(id))
		if aerr != nil {
			return "", "", fmt.Errorf("Keystone refuses to list projects by name (%v) and to list yours (%v): give the project's ID", err, aerr)
		}
		found, err, how = nil, nil, "found by name among your projects; Keystone refuses to list the others"
		for _, p := range all {
			if p.Name == name {
				found = append(found, p)
			}
		}
		if len(found) == 0 && !scoped && hexID.MatchString(e) {
			return e, "", nil // an ID of a project Keystone does not show this user
		}
		if len(found) == 0 {
			return "", "", errors.New("no project of yours has this name or ID, and Keystone refuses to list the cloud's projects by name to this user: give the project's ID")
		}
	}
	if err != nil {
		return "", "", fmt.Errorf("list projects named %q: %w", name, err)
	}
	if scoped {
		var in []projects.Project
		for _, p := range found {
			if p.DomainID == domain || domainName(ctx, id, p.DomainID) == domain {
				in = append(in, p)
			}
		}
		found = in
	}
	switch len(found) {
	case 0:
		if scoped {
			return "", "", fmt.Errorf("Keystone has no project %q in domain %q", name, domain)
		}
		return "", "", errors.New("Keystone knows no project with this ID or name")
	case 1:
		return found[0].ID, how, nil
	}
	var names []string
	for _, p := range found {
		names = append(names, fmt.Sprintf("%s (domain %s)", p.ID, domainLabel(ctx, id, p.DomainID)))
	}
	sort.Strings(names)
	return "", "", fmt.Errorf("%d projects have this name: %s; name one as domain/name or by ID", len(found), strings.Join(names, ", "))
}

func listProjects(ctx context.Context, id *gophercloud.ServiceClient, pager interface {
	AllPages(context.Context) (pagination.Page, error)
}) ([]projects.Project, error) {
	page, err := pager.AllPages(ctx)
	if err != nil {
		return nil, err
	}
	return projects.ExtractProjects(page)
}

// domainName is the name of a domain ("" when Keystone does not show it).
func domainName(ctx context.Context, id *gophercloud.ServiceClient, domainID string) string {
	d, err := domains.Get(ctx, id, domainID).Extract()
	if err != nil {
		return ""
	}
	return d.Name
}

func domainLabel(ctx context.Context, id *gophercloud.ServiceClient, domainID string) string {
	if n := domainName(ctx, id, domainID); n != "" && n != domainID {
		return n + ", " + domainID
	}
	return domainID
}
