package common

import (
	"slices"
	"testing"
)

func TestDiskPaths(t *testing.T) {
	got := DiskPaths("out/web.raw", 3)
	if want := []string{"out/web.raw", "out/web-disk2.raw", "out/web-disk3.raw"}; !slices.Equal(got, want) {
		t.Errorf("DiskPaths = %v, want %v", got, want)
	}
	if got := DiskPaths("out/disk", 2); !slices.Equal(got, []string{"out/disk", "out/disk-disk2"}) {
		t.Errorf("without an extension: %v", got)
	}
	if got := DiskPaths("out/web.raw", 1); !slices.Equal(got, []string{"out/web.raw"}) {
		t.Errorf("one disk: %v", got)
	}
}
