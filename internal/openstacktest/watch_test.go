package openstacktest

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// Watch keeps each state that differs from the one before it, skips empty polls, and stops.
func TestWatch(t *testing.T) {
	script := [][]string{nil, {"queued"}, {"queued"}, nil, {"saving", "saving"}, {"active"}}
	var n atomic.Int32
	all := make(chan struct{})
	stop := Watch(time.Millisecond, func() []string {
		i := int(n.Add(1)) - 1
		if i == len(script) {
			close(all)
		}
		if i >= len(script) {
			return []string{"active"}
		}
		return script[i]
	})
	<-all
	got := stop()
	if want := []string{"queued", "saving", "active"}; !slices.Equal(got, want) {
		t.Fatalf("seen %v, want %v", got, want)
	}
	calls := n.Load()
	time.Sleep(20 * time.Millisecond)
	if n.Load() != calls {
		t.Errorf("still polling after stop")
	}
}
