package openstack

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
)

// fakeCinder answers GET and DELETE of one volume or snapshot from scripted statuses: each GET
// takes the next status ("" = 404 from then on); a DELETE answers 400 while busy is true.
type fakeCinder struct {
	mu       sync.Mutex
	kind     string // volume or snapshot
	statuses []string
	busy     []bool // one per DELETE; missing = accepted
	deletes  int
}

func (f *fakeCinder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.Method {
	case http.MethodDelete:
		f.deletes++
		if f.deletes <= len(f.busy) && f.busy[f.deletes-1] {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"badRequest": {"message": "Invalid volume: status must be available", "code": 400}}`)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	case http.MethodGet:
		st := ""
		if len(f.statuses) > 0 {
			st, f.statuses = f.statuses[0], f.statuses[1:]
			if len(f.statuses) == 0 && st != "" {
				f.statuses = []string{st} // the last status stays
			}
		}
		if st == "" {
			f.statuses = []string{""}
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"itemNotFound": {"message": "not found", "code": 404}}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"%s": {"id": "x1", "status": %q, "size": 1}}`, f.kind, st)
	}
}

func fakeBlockStorage(t *testing.T, f *fakeCinder) *gophercloud.ServiceClient {
	t.Helper()
	old := volumePoll
	volumePoll = 5 * time.Millisecond
	t.Cleanup(func() { volumePoll = old })
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return &gophercloud.ServiceClient{ProviderClient: &gophercloud.ProviderClient{HTTPClient: http.Client{}}, Endpoint: srv.URL + "/v3/p/"}
}

// TestDeleteVolumeWaits: a volume still uploading refuses the delete (400): it is retried, and
// DeleteVolume returns once the volume is gone (404), not when the delete is accepted.
func TestDeleteVolumeWaits(t *testing.T) {
	f := &fakeCinder{kind: "volume", statuses: []string{"uploading", "available", "deleting", "deleting", ""}, busy: []bool{true}}
	bs := fakeBlockStorage(t, f)
	if err := DeleteVolume(context.Background(), bs, "x1"); err != nil {
		t.Fatal(err)
	}
	if f.deletes != 2 || len(f.statuses) != 1 || f.statuses[0] != "" {
		t.Errorf("deletes %d, statuses left %q: want 2 deletes and every status read", f.deletes, f.statuses)
	}
}

// TestDeleteSnapshotFails: error_deleting after the delete is an error naming it; a snapshot
// already gone is not; a delete that never finishes ends with the context.
func TestDeleteSnapshotFails(t *testing.T) {
	f := &fakeCinder{kind: "snapshot", statuses: []string{"deleting", "error_deleting"}}
	err := DeleteVolumeSnapshot(context.Background(), fakeBlockStorage(t, f), "x1")
	if err == nil || !strings.Contains(err.Error(), "error_deleting") || !strings.Contains(err.Error(), "volume snapshot x1") {
		t.Errorf("error %v", err)
	}
	gone := &fakeCinder{kind: "snapshot"}
	if err := DeleteVolumeSnapshot(context.Background(), fakeBlockStorage(t, gone), "x1"); err != nil {
		t.Errorf("snapshot already gone: %v", err)
	}
	stuck := &fakeCinder{kind: "snapshot", statuses: []string{"deleting"}}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := DeleteVolumeSnapshot(ctx, fakeBlockStorage(t, stuck), "x1"); err == nil || !strings.Contains(err.Error(), "status deleting") {
		t.Errorf("stuck delete: %v", err)
	}
}

// TestWaitVolume: pending statuses are waited through; any other status, and a volume that
// disappears, end the wait with an error naming it.
func TestWaitVolume(t *testing.T) {
	var seen []string
	f := &fakeCinder{kind: "volume", statuses: []string{"creating", "creating", "downloading", "available"}}
	v, err := WaitVolume(context.Background(), fakeBlockStorage(t, f), "x1", "available", func(s string) { seen = append(seen, s) }, "creating", "downloading")
	if err != nil || v.Status != "available" || strings.Join(seen, ",") != "creating,downloading,available" {
		t.Errorf("volume %+v, err %v, statuses seen %v", v, err, seen)
	}
	bad := &fakeCinder{kind: "volume", statuses: []string{"creating", "error"}}
	if _, err := WaitVolume(context.Background(), fakeBlockStorage(t, bad), "x1", "available", nil, "creating"); err == nil || !strings.Contains(err.Error(), "went to status error") {
		t.Errorf("error status: %v", err)
	}
	gone := &fakeCinder{kind: "volume", statuses: []string{"creating", ""}}
	if _, err := WaitVolume(context.Background(), fakeBlockStorage(t, gone), "x1", "available", nil, "creating"); err == nil || !strings.Contains(err.Error(), "disappeared") {
		t.Errorf("gone: %v", err)
	}
	snap := &fakeCinder{kind: "snapshot", statuses: []string{"creating", "available"}}
	if _, err := WaitSnapshot(context.Background(), fakeBlockStorage(t, snap), "x1", nil); err != nil {
		t.Errorf("snapshot: %v", err)
	}
}
