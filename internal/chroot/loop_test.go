package chroot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A loop device that another opener still holds (as a mount in a guest program's exiting
// namespace does) is only marked for clearing by LOOP_CLR_FD: Detach waits for the kernel to
// let it go, says so when it does not, and the device is gone once the other opener is.
func TestLoopDetachWaitsForRelease(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for loop devices")
	}
	img := filepath.Join(t.TempDir(), "disk.raw")
	if err := os.WriteFile(img, make([]byte, 4<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := AttachLoop(img, 1<<20, 2<<20, false)
	if err != nil {
		t.Fatal(err)
	}
	held, err := os.Open(l.Path)
	if err != nil {
		l.Detach()
		t.Fatal(err)
	}
	defer held.Close()

	saved := loopReleaseWait
	loopReleaseWait = 300 * time.Millisecond
	defer func() { loopReleaseWait = saved }()
	err = l.Detach()
	if err == nil || !strings.Contains(err.Error(), "still attached to "+img) {
		t.Fatalf("Detach with the device held elsewhere: %v", err)
	}
	if got := LoopsBackedBy(img); len(got) != 1 {
		t.Fatalf("loops on %s while held: %v", img, got)
	}

	// The other opener lets go: the kernel clears the device (autoclear), and a Detach that
	// waits sees it go.
	l2 := &Loop{Path: l.Path, Offset: l.Offset, file: l.file}
	done := make(chan error, 1)
	go func() { done <- l2.waitReleased(10 * time.Second) }()
	time.Sleep(100 * time.Millisecond)
	held.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := LoopsBackedBy(img); len(got) != 0 {
		t.Errorf("loops left on %s: %v", img, got)
	}
}
