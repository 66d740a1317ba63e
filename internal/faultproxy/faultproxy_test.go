package faultproxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeCloud is a Keystone that returns a catalog with one image service, and that service.
func fakeCloud(t *testing.T) (keystone *httptest.Server, uploaded *atomic.Int64, gets *atomic.Int64) {
	uploaded, gets = new(atomic.Int64), new(atomic.Int64)
	image := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == "PUT":
			n, _ := io.Copy(io.Discard, r.Body)
			uploaded.Store(n)
			w.WriteHeader(204)
		case strings.HasSuffix(r.URL.Path, "/file"):
			gets.Add(1)
			w.Header().Set("Content-Length", "1048576")
			w.Write(bytes.Repeat([]byte{7}, 1<<20))
		default:
			gets.Add(1)
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id": "i1", "status": "active", "self": "/v2/images/i1"}`)
		}
	}))
	t.Cleanup(image.Close)
	keystone = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Subject-Token", "tok")
		w.WriteHeader(201)
		fmt.Fprintf(w, `{"token": {"catalog": [{"type": "image", "endpoints": [{"interface": "public", "url": %q}]},
			{"type": "identity", "endpoints": [{"interface": "public", "url": "%s/v3"}]}]}}`, image.URL, "http://"+r.Host)
	}))
	t.Cleanup(keystone.Close)
	return keystone, uploaded, gets
}

func imageEndpoint(t *testing.T, p *Proxy) string {
	t.Helper()
	resp, err := http.Post(p.URL()+"/v3/auth/tokens", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Token struct {
			Catalog []struct {
				Type      string
				Endpoints []struct{ URL string }
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	var img string
	for _, s := range doc.Token.Catalog {
		u := s.Endpoints[0].URL
		if !strings.HasPrefix(u, "http://127.0.0.1:") {
			t.Errorf("%s endpoint %s not rewritten", s.Type, u)
		}
		if s.Type == "identity" && u != p.URL()+"/v3" {
			t.Errorf("identity endpoint %s, want the proxy's %s/v3", u, p.URL())
		}
		if s.Type == "image" {
			img = u
		}
	}
	return img
}

func TestCatalogAndFaults(t *testing.T) {
	ks, uploaded, gets := fakeCloud(t)
	p, err := New(ks.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	img := imageEndpoint(t, p)
	if img == "" {
		t.Fatal("no image endpoint")
	}

	// 503 twice, then through.
	r503 := &Rule{Name: "503", Service: "image", Method: "GET", Path: regexp.MustCompile(`^/v2/images/[^/]+$`), Status: 503, Times: 2}
	// The status of the image rewritten.
	rw := &Rule{Name: "rw", Service: "image", Method: "GET", Path: regexp.MustCompile(`^/v2/images/i1$`), Rewrite: map[string]any{"status": "error"}}
	p.Add(r503, rw)
	var codes []int
	for i := 0; i < 3; i++ {
		resp, err := http.Get(img + "/v2/images/i1")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		if i == 2 && !strings.Contains(string(b), `"status":"error"`) {
			t.Errorf("status not rewritten: %s", b)
		}
	}
	if fmt.Sprint(codes) != "[503 503 200]" || r503.Applied() != 2 || gets.Load() != 1 {
		t.Errorf("codes %v, rule applied %d, upstream GETs %d", codes, r503.Applied(), gets.Load())
	}
	if n := p.Count("image", "GET", regexp.MustCompile(`^/v2/images/i1$`)); n != 3 {
		t.Errorf("Count = %d, want 3", n)
	}

	// A response cut after 1000 bytes: the client sees a truncated body and an error.
	p.Reset()
	p.Add(&Rule{Name: "cut-down", Path: regexp.MustCompile(`/file$`), Method: "GET", CutResponse: true, CutResponseAfter: 1000})
	resp, err := http.Get(img + "/v2/images/i1/file")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || len(b) >= 1<<20 {
		t.Errorf("cut download: read %d bytes, err %v", len(b), err)
	}

	// A request body cut after 4096 bytes: the client's upload fails, the upstream gets less.
	p.Reset()
	cut := &Rule{Name: "cut-up", Method: "PUT", CutRequest: true, CutRequestAfter: 4096}
	p.Add(cut)
	req, _ := http.NewRequest("PUT", img+"/v2/images/i1/file", io.NopCloser(bytes.NewReader(make([]byte, 8<<20))))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("cut upload succeeded: %s", resp.Status)
	}
	time.Sleep(200 * time.Millisecond)
	if uploaded.Load() >= 8<<20 || cut.Applied() != 1 {
		t.Errorf("upstream got %d bytes of a cut upload; rule applied %d", uploaded.Load(), cut.Applied())
	}
	if l := p.Log(); len(l) != 1 || l[0].Status != 0 {
		t.Errorf("log of the cut upload: %+v", l)
	}

	// Throttled: 64 KiB at 128 KiB/s takes about half a second.
	p.Reset()
	p.Add(&Rule{Name: "slow", Path: regexp.MustCompile(`/file$`), Throttle: 1 << 20})
	start := time.Now()
	resp, err = http.Get(img + "/v2/images/i1/file")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if d := time.Since(start); n != 1<<20 || d < 700*time.Millisecond {
		t.Errorf("throttled download: %d bytes in %s", n, d)
	}

	// An error after forwarding: the upstream acted, the client is told 500.
	p.Reset()
	p.Add(&Rule{Name: "after", Method: "PUT", Status: 500, AfterForward: true})
	req, _ = http.NewRequest("PUT", img+"/v2/images/i1/file", bytes.NewReader(make([]byte, 100)))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 || uploaded.Load() != 100 {
		t.Errorf("after-forward: status %d, upstream got %d bytes", resp.StatusCode, uploaded.Load())
	}
}

func TestRewriteClouds(t *testing.T) {
	ks, _, _ := fakeCloud(t)
	p, err := New(ks.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dir := t.TempDir()
	src := filepath.Join(dir, "in.yaml")
	os.WriteFile(src, []byte("clouds:\n  a:\n    auth:\n      auth_url: "+ks.URL+"/v3\n"), 0o600)
	dst := filepath.Join(dir, "out.yaml")
	if err := p.RewriteClouds(src, dst); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dst)
	if !strings.Contains(string(got), "auth_url: "+p.URL()+"/v3") || strings.Contains(string(got), ks.URL) {
		t.Errorf("rewritten clouds.yaml:\n%s", got)
	}
}
