package openstack

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
)

// TestUploadImage: both import methods, the progress, the statuses; a timeout names its
// setting and leaves no image; an unknown method makes nothing.
func TestUploadImage(t *testing.T) {
	newGlance := func(t *testing.T) (*visGlance, *gophercloud.ServiceClient) {
		g := &visGlance{imgs: map[string]map[string]any{}, members: map[string][]string{}}
		srv := httptest.NewServer(g)
		t.Cleanup(srv.Close)
		return g, &gophercloud.ServiceClient{ProviderClient: &gophercloud.ProviderClient{HTTPClient: http.Client{}}, Endpoint: srv.URL + "/v2/"}
	}
	for _, method := range []string{"", MethodGlanceDirect} {
		g, sc := newGlance(t)
		var done, total int64
		var statuses []string
		img, err := UploadImage(context.Background(), sc, UploadInput{
			Image: NewImage{Name: "x", DiskFormat: "raw", Visibility: "public"}, Method: method,
			Data: strings.NewReader("data"), Size: 4, Timeout: time.Minute, TimeoutName: "state_timeout",
			Progress: func(d, t int64) { done, total = d, t },
			Status:   func(s string) { statuses = append(statuses, s) },
		})
		if err != nil {
			t.Fatalf("%q: %v", method, err)
		}
		if string(img.Visibility) != "public" || done != 4 || total != 4 {
			t.Errorf("%q: visibility %s, progress %d/%d", method, img.Visibility, done, total)
		}
		if len(statuses) == 0 || !strings.HasPrefix(statuses[0], "Image x: ") {
			t.Errorf("%q: statuses %q", method, statuses)
		}
		if want := "create private"; g.events[0] != want {
			t.Errorf("%q: first event %q, want %q", method, g.events[0], want)
		}
	}

	g, sc := newGlance(t)
	_, err := UploadImage(context.Background(), sc, UploadInput{Image: NewImage{Name: "x", DiskFormat: "raw"},
		Data: strings.NewReader("data"), Timeout: time.Nanosecond, TimeoutName: "state_timeout"})
	if err == nil || !strings.Contains(err.Error(), "state_timeout (1ns) reached") {
		t.Errorf("timeout: %v", err)
	}
	for id := range g.imgs {
		t.Errorf("image %s left after the timeout", id)
	}

	g, sc = newGlance(t)
	if _, err := UploadImage(context.Background(), sc, UploadInput{Image: NewImage{Name: "x", DiskFormat: "raw"},
		Method: "web-download", Data: strings.NewReader("data")}); err == nil || len(g.events) != 0 {
		t.Errorf("unknown method: %v, events %q", err, g.events)
	}
}
