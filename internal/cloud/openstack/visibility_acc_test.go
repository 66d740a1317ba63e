package openstack_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/openstacktest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

// slowReader hands out n bytes at about rate bytes per second, so that the image stays
// "saving" (or "uploading") for a while.
type slowReader struct {
	left, rate int
}

func (s *slowReader) Read(p []byte) (int, error) {
	if s.left == 0 {
		return 0, io.EOF
	}
	n := min(len(p), s.left, s.rate/10)
	for i := range p[:n] {
		p[i] = byte(i)
	}
	s.left -= n
	time.Sleep(100 * time.Millisecond)
	return n, nil
}

func projectID(t *testing.T, c *cloud.Clients) string {
	r, ok := c.Provider.GetAuthResult().(tokens.CreateResult)
	if !ok {
		t.Fatalf("auth result %T", c.Provider.GetAuthResult())
	}
	p, err := r.ExtractProject()
	if err != nil || p == nil {
		t.Fatalf("project of the token: %v", err)
	}
	return p.ID
}

// TestAccNewImageVisibility uploads slowly (about 8 s of data) images that ask for shared
// (with project B as member), community and public visibility to the all-in-one Glance,
// with both import methods, while a poller watches the image as its owner sees it and as
// project B sees it. Until the image is active the owner sees it private and project B
// cannot see it at all; the finished image has the asked visibility and project B sees it.
func TestAccNewImageVisibility(t *testing.T) {
	testtier.Acceptance(t, "the all-in-one OpenStack cloud")
	a := openstacktest.Connect(t, "aio-a")
	admin := openstacktest.Connect(t, "aio-admin")
	b := openstacktest.Connect(t, "aio-b")
	bProject := projectID(t, b)
	ctx := context.Background()
	methods, err := cloud.ImportMethods(ctx, a.Image)
	if err != nil {
		t.Logf("%v: plain upload only", err)
	}
	ms := []string{cloud.MethodUpload}
	for _, m := range methods {
		if m == cloud.MethodGlanceDirect {
			ms = append(ms, m)
		}
	}
	cases := []struct {
		owner      *cloud.Clients
		ownerName  string
		visibility string
		members    []string
	}{
		{a, "aio-a", "shared", []string{bProject}},
		{a, "aio-a", "community", nil},
		{admin, "aio-admin", "public", nil},
	}
	for _, method := range ms {
		for _, tc := range cases {
			t.Run(method+"/"+tc.visibility, func(t *testing.T) {
				name := fmt.Sprintf("acc-visibility-%s-%s-%d", method, tc.visibility, time.Now().UnixNano())
				var mu sync.Mutex
				id := ""
				status := func(st string) {
					if rest, ok := strings.CutPrefix(st, "uploading to "); ok {
						mu.Lock()
						id = rest
						mu.Unlock()
					} else if rest, ok := strings.CutPrefix(st, "staging data for "); ok {
						mu.Lock()
						id = rest
						mu.Unlock()
					}
				}
				// The poller: what the owner and project B see, every 300 ms.
				stop := openstacktest.Watch(300*time.Millisecond, func() []string {
					mu.Lock()
					cur := id
					mu.Unlock()
					if cur == "" {
						return nil
					}
					own, err := images.Get(ctx, tc.owner.Image, cur).Extract()
					if err != nil {
						return nil
					}
					other := "hidden"
					if img, err := images.Get(ctx, b.Image, cur).Extract(); err == nil {
						other = "visible:" + string(img.Status)
					} else if !gophercloud.ResponseCodeIs(err, 404) {
						other = "error:" + err.Error()
					}
					return []string{fmt.Sprintf("%s/%s B:%s", own.Status, own.Visibility, other)}
				})
				n := cloud.NewImage{Name: name, DiskFormat: "raw", Visibility: tc.visibility, Members: tc.members}
				img, err := cloud.UploadWith(ctx, tc.owner.Image, method, n, &slowReader{left: 8 << 20, rate: 1 << 20}, status)
				seen := stop()
				if img != nil {
					defer openstacktest.DeleteImage(t, tc.owner, img.ID)
				}
				if err != nil {
					t.Fatalf("%s upload with visibility %s: %v", tc.ownerName, tc.visibility, err)
				}
				t.Logf("seen: %v", seen)
				notActive := 0
				for _, s := range seen {
					if strings.HasPrefix(s, "active/") {
						continue
					}
					notActive++
					if !strings.HasSuffix(s, "/private B:hidden") {
						t.Errorf("before active: %s; want private and hidden from project B", s)
					}
				}
				if notActive == 0 {
					t.Errorf("the poller never saw the image before it was active: %v", seen)
				}
				if string(img.Visibility) != tc.visibility {
					t.Errorf("returned image visibility %s, want %s", img.Visibility, tc.visibility)
				}
				got, err := images.Get(ctx, b.Image, img.ID).Extract()
				if err != nil {
					t.Fatalf("project B cannot see the finished %s image: %v", tc.visibility, err)
				}
				if string(got.Visibility) != tc.visibility || got.Status != images.ImageStatusActive {
					t.Errorf("project B sees the finished image %s/%s, want active/%s", got.Status, got.Visibility, tc.visibility)
				}
			})
		}
	}
}
