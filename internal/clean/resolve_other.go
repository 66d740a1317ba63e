//go:build !linux

package clean

// Resolve returns sel unchecked elsewhere than Linux: the operations work on a mounted guest
// tree or a running Linux guest, and their registry is built only on Linux, where the
// provisioner checks the names again before it runs (packer validate on macOS or Windows
// accepts any operation name).
func Resolve(sel []string) ([]string, error) { return sel, nil }

// Live is the live-system rules of Options (as in live.go); elsewhere than Linux it carries
// nothing, as nothing runs there.
type Live struct{}
