package ec2emu

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// PackerHost seeds the instance Packer itself runs on (AddPackerHost): the instance the
// instance metadata service (IMDSEndpoint) describes, to which a build attaches volumes.
type PackerHost struct {
	ID string // default a new i- id
	// LoopDevices makes an attachment to this instance real: AttachVolume puts the volume's
	// backing file on a loop device (losetup --find --show) and creates a block device node
	// with the loop's major:minor at the Device path of the request (only /dev/sd[a-z] and
	// /dev/xvd[a-z] names, only where no file exists: existing nodes are never touched).
	// DetachVolume removes the node and the loop; while the device is mounted or held open
	// exclusively the attachment stays "busy", as a real disk in use would. Close releases
	// whatever is left. Needs root.
	LoopDevices bool
}

type packerHost struct {
	id          string
	loopDevices bool
	tokens      map[string]time.Time // IMDSv2 session tokens → expiry
}

// AddPackerHost seeds the Packer host instance (running, EBS-backed, with a small empty root
// volume, in the region's first zone) and starts the instance metadata service describing it
// on its own 127.0.0.1 listener (IMDSEndpoint). AWS dialect: IMDSv2 only (PUT
// /latest/api/token, then GETs with the token; a GET without one is 401). Eucalyptus dialect:
// IMDSv1 only (the token PUT is 404 and the SDK falls back). Paths: meta-data/instance-id,
// placement/availability-zone, placement/region (AWS only), local-hostname. One host per
// emulator.
func (s *Server) AddPackerHost(h PackerHost) (string, error) {
	s.mu.Lock()
	exists := s.host != nil
	s.mu.Unlock()
	if exists {
		return "", errors.New("ec2emu: the Packer host exists")
	}
	if h.LoopDevices && os.Geteuid() != 0 {
		return "", errors.New("ec2emu: PackerHost.LoopDevices needs root")
	}
	root := filepath.Join(s.dir, "packer-host-root.raw")
	if err := os.WriteFile(root, nil, 0o600); err != nil {
		return "", err
	}
	if err := os.Truncate(root, gib); err != nil {
		return "", err
	}
	rootDev := "/dev/xvda"
	if s.opts.Dialect == Eucalyptus {
		rootDev = "/dev/sda"
	}
	id, err := s.AddInstance(Instance{ID: h.ID, Name: "packer-host", RootDisk: root, RootDeviceName: rootDev})
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	s.host = &packerHost{id: id, loopDevices: h.LoopDevices, tokens: map[string]time.Time{}}
	s.mu.Unlock()
	// Plain HTTP even when the API endpoints use TLS, as the real service.
	ts := httptest.NewServer(http.HandlerFunc(s.serveIMDS))
	ts.Config.ErrorLog = nil
	s.mu.Lock()
	s.servers = append(s.servers, ts)
	s.mu.Unlock()
	s.IMDSEndpoint = ts.URL
	return id, nil
}

// BusyDetaches counts the detaches that found the device still in use (mounted or held
// exclusively) and had to wait: a build that detaches before releasing the device.
func (s *Server) BusyDetaches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.busyDetaches
}

// HostDevices lists the device nodes and loop devices the emulator holds for attached
// volumes ("/dev/sdf=/dev/loop3"), to check that nothing is left.
func (s *Server) HostDevices() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, id := range sortedKeys(s.st.volumes) {
		if l := s.st.volumes[id].loop; l != nil {
			out = append(out, l.node+"="+l.loopDev)
		}
	}
	return out
}

// AttachmentState is a volume's attachment state (attaching, attached, detaching, busy), or
// "" when it is not attached.
func (s *Server) AttachmentState(volumeID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.tick()
	if v := s.st.volumes[volumeID]; v != nil && v.attInstance != "" {
		return v.attState
	}
	return ""
}

func (s *Server) serveIMDS(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.host
	euca := s.opts.Dialect == Eucalyptus
	status := func(code int, body string) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(code)
		fmt.Fprint(w, body)
		s.logf("imds %s %s -> %d", r.Method, r.URL.Path, code)
	}
	if r.URL.Path == "/latest/api/token" {
		if euca {
			status(http.StatusNotFound, "Not Found") // Eucalyptus 4.x: IMDSv1 only
			return
		}
		if r.Method != http.MethodPut {
			status(http.StatusMethodNotAllowed, "")
			return
		}
		ttl, err := strconv.Atoi(r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds"))
		if err != nil || ttl < 1 || ttl > 21600 {
			status(http.StatusBadRequest, "")
			return
		}
		var b [24]byte
		rand.Read(b[:])
		tok := hex.EncodeToString(b[:])
		h.tokens[tok] = time.Now().Add(time.Duration(ttl) * time.Second)
		w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", strconv.Itoa(ttl))
		status(http.StatusOK, tok)
		return
	}
	if r.Method != http.MethodGet {
		status(http.StatusMethodNotAllowed, "")
		return
	}
	if !euca {
		exp, ok := h.tokens[r.Header.Get("X-Aws-Ec2-Metadata-Token")]
		if !ok || time.Now().After(exp) {
			status(http.StatusUnauthorized, "")
			return
		}
	}
	in := s.st.instances[h.id]
	if in == nil {
		status(http.StatusNotFound, "")
		return
	}
	switch strings.TrimPrefix(r.URL.Path, "/latest/meta-data/") {
	case "instance-id":
		status(http.StatusOK, in.id)
	case "placement/availability-zone":
		status(http.StatusOK, in.az)
	case "placement/region":
		if euca {
			status(http.StatusNotFound, "Not Found")
			return
		}
		status(http.StatusOK, s.Region)
	case "local-hostname":
		status(http.StatusOK, "ip-"+strings.ReplaceAll(in.privateIP, ".", "-")+".ec2.internal")
	default:
		status(http.StatusNotFound, "Not Found")
	}
}

// loopAttachment is a volume shown to the host as a block device: a loop device over its
// backing file and a node at the attachment's device path.
type loopAttachment struct {
	loopDev string // /dev/loopN
	node    string // /dev/sdf
	rdev    uint64 // the loop's device number, which node has
}

var hostDeviceName = regexp.MustCompile(`^/dev/(sd|xvd)[a-z]$`)

// attachLoop puts file on a loop device and makes the node dev for it.
func attachLoop(file, dev string) (*loopAttachment, *apiError) {
	if !hostDeviceName.MatchString(dev) {
		return nil, errf(400, "InvalidParameterValue", "Value (%s) for parameter device is invalid. %s is not a valid EBS device name.", dev, dev)
	}
	if _, err := os.Lstat(dev); err == nil {
		// The name is taken on the host (by a disk the cloud does not know of): the build
		// would not find the volume under it. Real EC2 answers the same for names in use.
		return nil, errf(400, "InvalidParameterValue", "Invalid value '%s' for unixDevice. Attachment point %s is already in use", dev, dev)
	}
	out, err := exec.Command("losetup", "--find", "--show", file).Output()
	if err != nil {
		return nil, errf(500, "InternalError", "losetup %s: %v%s", file, err, stderrOf(err))
	}
	l := &loopAttachment{loopDev: strings.TrimSpace(string(out)), node: dev}
	var st unix.Stat_t
	if err := unix.Stat(l.loopDev, &st); err != nil {
		l.detachLoop()
		return nil, errf(500, "InternalError", "stat %s: %v", l.loopDev, err)
	}
	l.rdev = st.Rdev
	if err := unix.Mknod(dev, unix.S_IFBLK|0o600, int(st.Rdev)); err != nil {
		l.detachLoop()
		return nil, errf(500, "InternalError", "mknod %s: %v", dev, err)
	}
	return l, nil
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return ": " + strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}

// busy tells why the device cannot be detached cleanly: mounted (per /proc/mounts), held
// exclusively (an O_EXCL open fails with EBUSY, as for a mounted file system or a device
// mapper holder), or with holders in sysfs.
func (l *loopAttachment) busy() error {
	if f, err := os.Open("/proc/mounts"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			src, _, _ := strings.Cut(sc.Text(), " ")
			if src == l.loopDev || src == l.node {
				f.Close()
				return fmt.Errorf("%s (%s) is mounted", l.node, l.loopDev)
			}
		}
		f.Close()
	}
	fd, err := unix.Open(l.loopDev, unix.O_RDONLY|unix.O_EXCL|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, syscall.EBUSY) {
			return fmt.Errorf("%s (%s) is in use", l.node, l.loopDev)
		}
		return nil
	}
	unix.Close(fd)
	if h, _ := os.ReadDir(filepath.Join("/sys/block", filepath.Base(l.loopDev), "holders")); len(h) > 0 {
		return fmt.Errorf("%s (%s) is held by %s", l.node, l.loopDev, h[0].Name())
	}
	return nil
}

// release removes the node (only if it is still ours) and detaches the loop. Unless force,
// a busy device is left alone and the reason returned.
func (l *loopAttachment) release(force bool) error {
	if !force {
		if err := l.busy(); err != nil {
			return err
		}
	}
	var errs []error
	var st unix.Stat_t
	if err := unix.Lstat(l.node, &st); err == nil {
		if st.Mode&unix.S_IFMT == unix.S_IFBLK && st.Rdev == l.rdev {
			if err := os.Remove(l.node); err != nil {
				errs = append(errs, err)
			}
		} else {
			errs = append(errs, fmt.Errorf("%s is no longer the node the emulator made: left alone", l.node))
		}
	}
	errs = append(errs, l.detachLoop())
	return errors.Join(errs...)
}

// detachLoop detaches the loop device.
func (l *loopAttachment) detachLoop() error {
	if out, err := exec.Command("losetup", "-d", l.loopDev).CombinedOutput(); err != nil {
		return fmt.Errorf("losetup -d %s: %v: %s", l.loopDev, err, strings.TrimSpace(string(out)))
	}
	return nil
}
