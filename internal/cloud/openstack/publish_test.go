package openstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
)

// visGlance is a Glance v2 image API with one project: enough of create, upload, stage,
// import, show, update (visibility), members and delete to follow what a new image looked
// like to other projects at every step.
type visGlance struct {
	mu      sync.Mutex
	imgs    map[string]map[string]any
	members map[string][]string
	// events: "create <visibility>", "data <status> <visibility>", "active", "visibility
	// <old>-><new> while <status>", "member <project> while <visibility>/<status>", "delete".
	events []string
}

func (g *visGlance) log(f string, a ...any) { g.events = append(g.events, fmt.Sprintf(f, a...)) }

func (g *visGlance) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		if v != nil {
			json.NewEncoder(w).Encode(v)
		}
	}
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/v2/"), "/"), "/")
	switch {
	case r.Method == "GET" && r.URL.Path == "/v2/info/import":
		reply(200, map[string]any{"import-methods": map[string]any{"value": []string{"glance-direct"}}})
	case r.Method == "POST" && len(parts) == 1 && parts[0] == "images":
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		img := map[string]any{"status": "queued", "visibility": "shared"} // Glance's default
		for k, v := range body {
			img[k] = v
		}
		g.imgs[img["id"].(string)] = img
		g.log("create %v", img["visibility"])
		reply(201, img)
	case len(parts) >= 2 && g.imgs[parts[1]] == nil:
		reply(404, nil)
	case r.Method == "GET" && len(parts) == 2:
		img := g.imgs[parts[1]]
		if img["status"] == "saving" || img["status"] == "importing" {
			img["status"] = "active" // the data is in by the next look
			img["os_hash_algo"], img["os_hash_value"] = "sha512", "abc"
			g.log("active")
		}
		reply(200, img)
	case r.Method == "PUT" && len(parts) == 3 && (parts[2] == "file" || parts[2] == "stage"):
		io.Copy(io.Discard, r.Body)
		img := g.imgs[parts[1]]
		if parts[2] == "file" {
			img["status"] = "saving"
		} else {
			img["status"] = "uploading"
		}
		g.log("data %v %v", img["status"], img["visibility"])
		reply(204, nil)
	case r.Method == "POST" && len(parts) == 3 && parts[2] == "import":
		img := g.imgs[parts[1]]
		img["status"] = "importing"
		g.log("data %v %v", img["status"], img["visibility"])
		reply(202, nil)
	case r.Method == "PATCH" && len(parts) == 2:
		img := g.imgs[parts[1]]
		var ops []map[string]any
		json.NewDecoder(r.Body).Decode(&ops)
		for _, op := range ops {
			name := strings.TrimPrefix(op["path"].(string), "/")
			if name == "visibility" {
				g.log("visibility %v->%v while %v", img["visibility"], op["value"], img["status"])
			}
			img[name] = op["value"]
		}
		reply(200, img)
	case r.Method == "POST" && len(parts) == 3 && parts[2] == "members":
		img := g.imgs[parts[1]]
		var body map[string]string
		json.NewDecoder(r.Body).Decode(&body)
		if img["visibility"] != "shared" {
			reply(403, map[string]any{"message": "only shared images have members"})
			return
		}
		g.members[parts[1]] = append(g.members[parts[1]], body["member"])
		g.log("member %s while %v/%v", body["member"], img["visibility"], img["status"])
		reply(200, map[string]any{"image_id": parts[1], "member_id": body["member"], "status": "pending"})
	case r.Method == "DELETE" && len(parts) == 2:
		delete(g.imgs, parts[1])
		g.log("delete")
		reply(204, nil)
	default:
		reply(400, map[string]any{"message": r.Method + " " + r.URL.Path})
	}
}

// TestNewImageIsPrivateUntilActive checks the order in which an image is made: created
// private, data in, active, checked, then the asked visibility, then members; a failed check
// deletes the image before anyone else could see it.
func TestNewImageIsPrivateUntilActive(t *testing.T) {
	for _, method := range []string{MethodUpload, MethodGlanceDirect} {
		for _, vis := range []string{"private", "shared", "community", "public"} {
			t.Run(method+"/"+vis, func(t *testing.T) {
				g := &visGlance{imgs: map[string]map[string]any{}, members: map[string][]string{}}
				srv := httptest.NewServer(g)
				defer srv.Close()
				sc := &gophercloud.ServiceClient{ProviderClient: &gophercloud.ProviderClient{HTTPClient: http.Client{}}, Endpoint: srv.URL + "/v2/"}
				n := NewImage{Name: "x", DiskFormat: "raw", Visibility: vis}
				if vis == "shared" {
					n.Members = []string{"project-b"}
				}
				checked := false
				n.Verify = func(img *images.Image) error {
					g.mu.Lock()
					defer g.mu.Unlock()
					g.log("verify %s", img.Visibility)
					checked = true
					return nil
				}
				img, err := UploadWith(context.Background(), sc, method, n, strings.NewReader("data"), nil)
				if err != nil {
					t.Fatal(err)
				}
				if !checked {
					t.Error("Verify was not called")
				}
				if string(img.Visibility) != vis {
					t.Errorf("returned image has visibility %s, want %s", img.Visibility, vis)
				}
				if got := g.imgs[img.ID]["visibility"]; got != vis {
					t.Errorf("image in Glance has visibility %v, want %s", got, vis)
				}
				want := []string{"create private", "data saving private", "active", "verify private"}
				if method == MethodGlanceDirect {
					want = []string{"create private", "data uploading private", "data importing private", "active", "verify private"}
				}
				if vis != "private" {
					want = append(want, "visibility private->"+vis+" while active")
				}
				if vis == "shared" {
					want = append(want, "member project-b while shared/active")
				}
				if got := strings.Join(g.events, "\n"); got != strings.Join(want, "\n") {
					t.Errorf("events:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
				}
			})
		}
	}

	t.Run("failed-check", func(t *testing.T) {
		g := &visGlance{imgs: map[string]map[string]any{}, members: map[string][]string{}}
		srv := httptest.NewServer(g)
		defer srv.Close()
		sc := &gophercloud.ServiceClient{ProviderClient: &gophercloud.ProviderClient{HTTPClient: http.Client{}}, Endpoint: srv.URL + "/v2/"}
		n := NewImage{Name: "x", DiskFormat: "raw", Visibility: "public",
			Verify: func(*images.Image) error { return errors.New("hash differs") }}
		if _, err := Upload(context.Background(), sc, n, strings.NewReader("data"), nil); err == nil || !strings.Contains(err.Error(), "hash differs") {
			t.Fatalf("err = %v, want the check's", err)
		}
		want := "create private\ndata saving private\nactive\ndelete"
		if got := strings.Join(g.events, "\n"); got != want {
			t.Errorf("events:\n%s\nwant:\n%s", got, want)
		}
	})
}
