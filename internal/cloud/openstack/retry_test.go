package openstack

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
)

// TestRetryPolicy runs requests against a server that fails in scripted ways and checks which
// are repeated: safe ones on 5xx and dropped connections, never a POST or a PUT with data,
// never on a 4xx.
func TestRetryPolicy(t *testing.T) {
	RetryBase, RetryMax = time.Millisecond, 4*time.Millisecond
	defer func() { RetryBase, RetryMax = 500*time.Millisecond, 8*time.Second }()

	var hits atomic.Int32
	var failFirst atomic.Int32 // how many requests fail before one succeeds
	var failWith atomic.Int32  // the status they fail with; 0 = drop the connection
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		if n <= failFirst.Load() {
			if failWith.Load() == 0 {
				conn, _, _ := w.(http.Hijacker).Hijack()
				conn.Close()
				return
			}
			w.WriteHeader(int(failWith.Load()))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.Method == "DELETE" {
			w.WriteHeader(204)
			return
		}
		w.Write([]byte(`{"ok": true}`))
	}))
	defer srv.Close()
	sc := &gophercloud.ServiceClient{ProviderClient: &gophercloud.ProviderClient{HTTPClient: http.Client{}, RetryFunc: retryFunc}, Endpoint: srv.URL + "/"}
	ctx := context.Background()

	cases := []struct {
		name      string
		fail      int32
		status    int32
		do        func() error
		wantHits  int32
		wantError bool
	}{
		{"GET 503 twice", 2, 503, func() error { var v any; _, err := sc.Get(ctx, sc.Endpoint+"x", &v, nil); return err }, 3, false},
		{"GET dropped connection", 1, 0, func() error { var v any; _, err := sc.Get(ctx, sc.Endpoint+"x", &v, nil); return err }, 2, false},
		{"GET 500 for ever", 100, 500, func() error { var v any; _, err := sc.Get(ctx, sc.Endpoint+"x", &v, nil); return err }, 1 + MaxRetries, true},
		{"GET 404", 100, 404, func() error { var v any; _, err := sc.Get(ctx, sc.Endpoint+"x", &v, nil); return err }, 1, true},
		{"DELETE 502 once", 1, 502, func() error { _, err := sc.Delete(ctx, sc.Endpoint+"x", nil); return err }, 2, false},
		{"POST 500", 100, 500, func() error {
			var v any
			_, err := sc.Post(ctx, sc.Endpoint+"x", map[string]any{"a": 1}, &v, nil)
			return err
		}, 1, true},
		{"POST dropped connection", 1, 0, func() error {
			var v any
			_, err := sc.Post(ctx, sc.Endpoint+"x", map[string]any{"a": 1}, &v, nil)
			return err
		}, 1, true},
		{"PUT with data 503", 100, 503, func() error {
			_, err := sc.Put(ctx, sc.Endpoint+"x", nil, nil, &gophercloud.RequestOpts{RawBody: bytes.NewReader([]byte("data")), OkCodes: []int{204}})
			return err
		}, 1, true},
		{"PUT without body 503", 1, 503, func() error {
			_, err := sc.Put(ctx, sc.Endpoint+"x", nil, nil, &gophercloud.RequestOpts{OkCodes: []int{200, 204}})
			return err
		}, 2, false},
	}
	for _, tc := range cases {
		hits.Store(0)
		failFirst.Store(tc.fail)
		failWith.Store(tc.status)
		err := tc.do()
		if (err != nil) != tc.wantError || hits.Load() != tc.wantHits {
			t.Errorf("%s: %d requests, error %v; want %d requests, error %v", tc.name, hits.Load(), err, tc.wantHits, tc.wantError)
		}
	}
}

func TestNewImageID(t *testing.T) {
	a, b := newImageID(), newImageID()
	if a == b || len(a) != 36 || a[14] != '4' {
		t.Errorf("ids %s %s", a, b)
	}
}
