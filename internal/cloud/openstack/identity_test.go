package openstack

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
)

// TestResolveMembersRefused: with a Keystone that refuses project look-ups to the user (its
// default policy for project members), a name is found among the user's own projects, a
// 32-hex-digit ID is taken as given, and any other entry is an error naming the option and
// the entry: a name is never handed to Glance as a member.
func TestResolveMembersRefused(t *testing.T) {
	const other = "0123456789abcdef0123456789abcdef"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/v3/auth/projects":
			w.Write([]byte(`{"projects": [{"id": "aaa", "name": "mine", "domain_id": "default"}], "links": {}}`))
		case r.URL.Path == "/v3/projects/aaa":
			w.Write([]byte(`{"project": {"id": "aaa", "name": "mine", "domain_id": "default"}}`))
		case strings.HasPrefix(r.URL.Path, "/v3/projects"):
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"error": {"code": 403, "message": "You are not authorized to perform the requested action."}}`))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	pc := &gophercloud.ProviderClient{IdentityBase: srv.URL + "/", HTTPClient: *srv.Client()}
	c := &Clients{Provider: pc}
	ctx := context.Background()
	got, err := ResolveMembers(ctx, c, "image_members", []string{"aaa", "mine", other}, nil)
	if err != nil || strings.Join(got, ",") != "aaa,aaa,"+other {
		t.Errorf("ResolveMembers = %v, %v; want aaa, aaa, %s", got, err, other)
	}
	for _, e := range []string{"theirs", "Default/theirs", "0123"} {
		got, err := ResolveMembers(ctx, c, "image_members", []string{e}, nil)
		if err == nil || !strings.Contains(err.Error(), `image_members: "`+e+`"`) || !strings.Contains(err.Error(), "give the project's ID") {
			t.Errorf("%s: ResolveMembers = %v, %v; want an error naming it and asking for the ID", e, got, err)
		}
	}
	if got, err := ResolveMembers(ctx, c, "image_members", nil, nil); got != nil || err != nil {
		t.Errorf("no members: %v, %v", got, err)
	}
}
