package openstack_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	gos "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/domains"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/openstacktest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

// TestAccResolveMembers resolves image member entries against the all-in-one Keystone: an
// ID stays that ID; a project name becomes its ID (as admin, who may list projects, and as a
// project user, who may not and finds its own projects by name); a name two domains have is
// an error naming both projects, and domain/name (by domain name or ID) picks one; unknown
// names are errors naming the option and the entry.
func TestAccResolveMembers(t *testing.T) {
	testtier.Acceptance(t, "the all-in-one OpenStack cloud")
	admin := openstacktest.Connect(t, "aio-admin")
	a := openstacktest.Connect(t, "aio-a")
	b := openstacktest.Connect(t, "aio-b")
	idA, idB := projectID(t, a), projectID(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	resolve := func(c *cloud.Clients, entries ...string) ([]string, error) {
		return cloud.ResolveMembers(ctx, c, "image_members", entries, func(m string) { t.Log(m) })
	}
	if got, err := resolve(admin, "provider-b", idA); err != nil || len(got) != 2 || got[0] != idB || got[1] != idA {
		t.Errorf("admin: provider-b, %s resolved to %v, %v; want %s, %s", idA, got, err, idB, idA)
	}
	if got, err := resolve(a, "provider-a", idB); err != nil || len(got) != 2 || got[0] != idA || got[1] != idB {
		t.Errorf("project user: provider-a, %s resolved to %v, %v; want %s, %s", idB, got, err, idA, idB)
	}
	// Another project's name: resolved if this Keystone lets project users list projects,
	// else an error asking for the ID; never the name passed on as it is.
	if got, err := resolve(a, "provider-b"); err == nil {
		if len(got) != 1 || got[0] != idB {
			t.Errorf("project user: provider-b resolved to %v, want %s", got, idB)
		}
	} else if !strings.Contains(err.Error(), `image_members: "provider-b"`) || !strings.Contains(err.Error(), "give the project's ID") {
		t.Errorf("project user: provider-b: error %v does not name the entry and ask for the ID", err)
	}
	for _, c := range []*cloud.Clients{admin, a} {
		if got, err := resolve(c, "acc-osopts-no-such-project"); err == nil || !strings.Contains(err.Error(), `image_members: "acc-osopts-no-such-project"`) {
			t.Errorf("unknown name resolved to %v, %v", got, err)
		}
	}

	// One name in two domains.
	id, err := gos.NewIdentityV3(admin.Provider, admin.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	stamp := time.Now().UnixNano()
	enabled, disabled := true, false
	dom, err := domains.Create(ctx, id, domains.CreateOpts{Name: fmt.Sprintf("acc-osopts-dom-%d", stamp), Enabled: &enabled}).Extract()
	if err != nil {
		t.Fatalf("create domain: %v", err)
	}
	t.Cleanup(func() {
		dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		domains.Update(dctx, id, dom.ID, domains.UpdateOpts{Enabled: &disabled})
		if err := domains.Delete(dctx, id, dom.ID).ExtractErr(); err != nil {
			t.Errorf("cleanup: delete domain %s: %v", dom.ID, err)
		}
	})
	name := fmt.Sprintf("acc-osopts-proj-%d", stamp)
	var made []string
	for _, d := range []string{"default", dom.ID} {
		p, err := projects.Create(ctx, id, projects.CreateOpts{Name: name, DomainID: d}).Extract()
		if err != nil {
			t.Fatalf("create project %s in domain %s: %v", name, d, err)
		}
		made = append(made, p.ID)
		t.Cleanup(func() {
			dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := projects.Delete(dctx, id, p.ID).ExtractErr(); err != nil {
				t.Errorf("cleanup: delete project %s: %v", p.ID, err)
			}
		})
	}
	_, err = resolve(admin, name)
	if err == nil || !strings.Contains(err.Error(), "2 projects have this name") ||
		!strings.Contains(err.Error(), made[0]) || !strings.Contains(err.Error(), made[1]) || !strings.Contains(err.Error(), dom.Name) {
		t.Errorf("ambiguous name: error %v, want one naming %s and %s (domain %s)", err, made[0], made[1], dom.Name)
	}
	for entry, want := range map[string]string{"Default/" + name: made[0], "default/" + name: made[0],
		dom.Name + "/" + name: made[1], dom.ID + "/" + name: made[1]} {
		if got, err := resolve(admin, entry); err != nil || len(got) != 1 || got[0] != want {
			t.Errorf("%s resolved to %v, %v; want %s", entry, got, err, want)
		}
	}
	if got, err := resolve(admin, "Default/provider-zz-none"); err == nil {
		t.Errorf("Default/provider-zz-none resolved to %v", got)
	}
}
