//go:build linux

package chroot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Loop is an attached loop device.
type Loop struct {
	Path   string // /dev/loopN
	Offset int64
	Size   int64 // 0: to the end of the file
	dev    *os.File
	file   string // the backing file's absolute path, as sysfs names it
}

// AttachLoop attaches [offset, offset+size) of the file at path (size 0: to its end) to a free
// loop device. The device is auto-cleared: it disappears when the last user (this process or a
// mount) lets go, so a crashed build cannot leak it once its mounts are gone.
func AttachLoop(path string, offset, size int64, readOnly bool) (*Loop, error) {
	flag := os.O_RDWR
	if readOnly {
		flag = os.O_RDONLY
	}
	backing, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, err
	}
	defer backing.Close()

	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("loop devices unavailable: %w", err)
	}
	defer ctl.Close()

	var cfg unix.LoopConfig
	cfg.Fd = uint32(backing.Fd())
	cfg.Info.Offset = uint64(offset)
	cfg.Info.Sizelimit = uint64(size)
	cfg.Info.Flags = unix.LO_FLAGS_AUTOCLEAR
	if readOnly {
		cfg.Info.Flags |= unix.LO_FLAGS_READ_ONLY
	}
	copy(cfg.Info.File_name[:len(cfg.Info.File_name)-1], path)

	// Another process may take the free device between GET_FREE and CONFIGURE: retry.
	for attempt := 0; attempt < 20; attempt++ {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return nil, fmt.Errorf("no free loop device: %w", err)
		}
		devPath := "/dev/loop" + strconv.Itoa(n)
		if err := ensureLoopNode(devPath, n); err != nil {
			return nil, err
		}
		dev, err := os.OpenFile(devPath, flag, 0)
		if err != nil {
			return nil, err
		}
		err = unix.IoctlLoopConfigure(int(dev.Fd()), &cfg)
		if err == nil {
			abs, _ := filepath.Abs(path)
			return &Loop{Path: devPath, Offset: offset, Size: size, dev: dev, file: abs}, nil
		}
		dev.Close()
		if !errors.Is(err, unix.EBUSY) {
			return nil, fmt.Errorf("configure %s for %s: %w", devPath, path, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil, fmt.Errorf("could not get a loop device for %s: all busy", path)
}

// ensureLoopNode creates /dev/loopN from sysfs when no udev made it.
func ensureLoopNode(devPath string, n int) error {
	if _, err := os.Stat(devPath); err == nil {
		return nil
	}
	raw, err := os.ReadFile(fmt.Sprintf("/sys/block/loop%d/dev", n))
	if err != nil {
		return fmt.Errorf("%s missing and not in sysfs: %w", devPath, err)
	}
	var major, minor uint32
	if _, err := fmt.Sscanf(strings.TrimSpace(string(raw)), "%d:%d", &major, &minor); err != nil {
		return fmt.Errorf("parse sysfs dev of %s: %w", devPath, err)
	}
	err = unix.Mknod(devPath, unix.S_IFBLK|0o660, int(unix.Mkdev(major, minor)))
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("mknod %s: %w", devPath, err)
	}
	return nil
}

// Detach releases the loop device. With auto-clear, the kernel detaches it once no mount
// holds it any more; Detach also clears it explicitly and waits until it is gone. A device
// still open elsewhere (a mount namespace of a guest program that is still exiting) is only
// marked for clearing by LOOP_CLR_FD, so Detach waits for the kernel to let it go, and says
// so if it does not within loopReleaseWait.
func (l *Loop) Detach() error {
	if l == nil || l.dev == nil {
		return nil
	}
	fd := int(l.dev.Fd())
	var err error
	for i := 0; i < 50; i++ {
		err = unix.IoctlSetInt(fd, unix.LOOP_CLR_FD, 0)
		if err == nil || errors.Is(err, unix.ENXIO) {
			err = nil
			break
		}
		if !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	l.dev.Close()
	l.dev = nil
	if err != nil {
		return fmt.Errorf("detach %s: %w", l.Path, err)
	}
	return l.waitReleased(loopReleaseWait)
}

// loopReleaseWait bounds how long Detach waits for a deferred clear.
var loopReleaseWait = 30 * time.Second

// waitReleased waits until the device no longer has this loop's file and offset (freed, or
// already taken by someone else for another file or range).
func (l *Loop) waitReleased(limit time.Duration) error {
	if l.file == "" {
		return nil
	}
	deadline := time.Now().Add(limit)
	for {
		if !l.stillBound() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("detach %s: still attached to %s after %s (a mount elsewhere holds it; the kernel clears it when that goes)", l.Path, l.file, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (l *Loop) stillBound() bool {
	if strings.TrimSuffix(BackingFile(l.Path), " (deleted)") != l.file {
		return false
	}
	b, err := os.ReadFile(filepath.Join("/sys/block", filepath.Base(l.Path), "loop/offset"))
	return err == nil && strings.TrimSpace(string(b)) == strconv.FormatInt(l.Offset, 10)
}

// BackingFile returns the file a loop device is attached to ("" when it is free).
func BackingFile(devPath string) string {
	b, err := os.ReadFile(filepath.Join("/sys/block", filepath.Base(devPath), "loop/backing_file"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// LoopsBackedBy lists the loop devices whose backing file is path.
func LoopsBackedBy(path string) []string {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	entries, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	var out []string
	for _, e := range entries {
		b, err := os.ReadFile(e)
		if err != nil {
			continue
		}
		bf := strings.TrimSuffix(strings.TrimSpace(string(b)), " (deleted)")
		if bf == abs {
			out = append(out, "/dev/"+filepath.Base(filepath.Dir(filepath.Dir(e))))
		}
	}
	return out
}
