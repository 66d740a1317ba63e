package ec2

import (
	"strings"
	"testing"
	"time"
)

// On Eucalyptus, force_deregister replaces the account's EMI of the same name right before
// the registration of the new bundle; without it the clash is found by CheckName.
func TestEucaPublishReplaces(t *testing.T) {
	ctx := t.Context()
	e := newEuca(t)
	e.srv.CreateBucket("bkt")
	path, _ := testImage(t, 2*BlockSize, map[int64]int{0: 100})
	opts := func(r Replace) EucaPublishOptions {
		return EucaPublishOptions{Name: "app", Bucket: "bkt", Keys: e.keys, AccountID: "000000000000", StateTimeout: time.Minute, Replace: r}
	}
	first, err := PublishEucalyptus(ctx, e.cl, openRaw(t, path), "disk", opts(Replace{}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CheckName(ctx, e.cl.EC2, "app", Replace{}); err == nil || !strings.Contains(err.Error(), first.ImageID) {
		t.Fatalf("CheckName of a taken name: %v", err)
	}
	second, err := PublishEucalyptus(ctx, e.cl, openRaw(t, path), "disk", opts(Replace{Force: true}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := GetImage(ctx, e.cl.EC2, first.ImageID); err == nil {
		t.Errorf("%s still registered after force_deregister", first.ImageID)
	}
	if ids := e.srv.ImageIDs(); len(ids) != 1 || ids[0] != second.ImageID {
		t.Errorf("images %v, want only %s", ids, second.ImageID)
	}
}
