//go:build linux

package chroot

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// LeaseDir holds one lease per mounted guest. It is on /run, a tmpfs, so leases vanish at
// reboot together with the mounts they describe. Every build releases the leftovers of any
// dead build it finds there; the environment variable CHROMOGENIC_LEASE_DIR (an absolute
// path) gives builds that must not touch each other's leftovers, such as tests running side
// by side on one host, directories of their own.
var LeaseDir = leaseDir()

func leaseDir() string {
	if d := os.Getenv("CHROMOGENIC_LEASE_DIR"); d != "" && filepath.IsAbs(d) {
		return d
	}
	return "/run/chromogenic/leases"
}

// lease records who mounted a guest tree, so that a later build can release what a build
// killed with SIGKILL (no cleanup ran) left mounted.
type lease struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"` // process start time (clock ticks after boot), against PID reuse
	Root  string `json:"root"`
	Image string `json:"image"`
	// Images are the other disks of a several-disk image (OpenImages), released like Image.
	Images []string `json:"images,omitempty"`
}

func leasePath(root string) string {
	sum := sha256.Sum256([]byte(root))
	return filepath.Join(LeaseDir, hex.EncodeToString(sum[:8])+".json")
}

// processStart returns the start time of a live process, or 0 when it does not exist.
func processStart(pid int) uint64 {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(f[19], 10, 64) // field 22: starttime
	return v
}

// writeLease records that this process mounted a guest on root from image (and the other
// disks of a several-disk image).
func writeLease(root, image string, others ...string) error {
	if err := os.MkdirAll(LeaseDir, 0o700); err != nil {
		return err
	}
	abs, _ := filepath.Abs(image)
	l := lease{PID: os.Getpid(), Start: processStart(os.Getpid()), Root: root, Image: abs}
	for _, o := range others {
		a, _ := filepath.Abs(o)
		l.Images = append(l.Images, a)
	}
	b, _ := json.Marshal(l)
	tmp := leasePath(root) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, leasePath(root))
}

func dropLease(root string) { os.Remove(leasePath(root)) }

// RecoverStale releases the guests whose builds died without cleaning up (their process is
// gone): processes left in the tree are killed, every mount under the root is unmounted,
// deepest first, and loop devices still backed by the image are detached. It returns the
// roots it released.
func RecoverStale() ([]string, error) {
	entries, err := os.ReadDir(LeaseDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var released []string
	var errs []error
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		p := filepath.Join(LeaseDir, e.Name())
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var l lease
		if json.Unmarshal(raw, &l) != nil || l.Root == "" || !filepath.IsAbs(l.Root) {
			os.Remove(p)
			continue
		}
		if start := processStart(l.PID); start != 0 && start == l.Start {
			continue // its build is still running
		}
		KillProcessesIn(l.Root)
		mounts := MountedUnder(l.Root)
		sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
		failed := false
		for _, m := range mounts {
			if err := unmount(m, l.Root); err != nil {
				errs = append(errs, err)
				failed = true
			}
		}
		for _, image := range append([]string{l.Image}, l.Images...) {
			if image == "" || !filepath.IsAbs(image) {
				continue
			}
			for _, dev := range LoopsBackedBy(image) {
				if f, err := os.OpenFile(dev, os.O_RDONLY, 0); err == nil {
					unix.IoctlSetInt(int(f.Fd()), unix.LOOP_CLR_FD, 0)
					f.Close()
				}
			}
		}
		if !failed {
			os.Remove(p)
			released = append(released, l.Root)
		}
	}
	if len(errs) > 0 {
		return released, fmt.Errorf("release stale guest mounts: %w", errors.Join(errs...))
	}
	return released, nil
}
