//go:build linux

package clean

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"
)

// Live configures a run on the root of a running system: the engine runs on the guest itself
// (uploaded there by the chromogenic-clean provisioner through a Packer communicator) and
// cleans its "/". The same ops run, with these rules on top, so cleaning does not break the
// running system or the session Packer is using:
//
//   - the session accounts (SessionUsers, the user the engine runs as, the user sudo was run
//     from, the login user of the session) are never removed by user-account, nor are
//     accounts that own a running process;
//   - the session accounts' ~/.ssh/authorized_keys and authorized_keys2 are kept (the rest of
//     their .ssh goes) unless RemoveSessionKeys;
//   - the Protect paths (the directory holding the uploaded engine and its report) are never
//     removed, emptied or edited, and a directory holding one is emptied around it instead
//     of being removed;
//   - sockets and FIFOs are not removed (a running service listens on them);
//   - /proc, /sys, /dev and /run are mounts the ops never enter (as for a chroot builder).
//
// Files held open by a process are emptied in place like any other (logs: the writer keeps
// its descriptor and appends at the new end, as with logrotate's copytruncate) and may be
// removed (the process keeps the inode until it closes it). Ops that rewrite a file replace
// its content in place, so a daemon holding it open sees the new content.
type Live struct {
	// SessionUsers are the accounts of the session (the communicator's login user).
	SessionUsers []string `json:"session_users,omitempty"`
	// Protect lists guest paths kept with every directory leading to them.
	Protect []string `json:"protect,omitempty"`
	// RemoveSessionKeys lets ssh-userdir remove the session accounts' authorized_keys too
	// (the session that is running keeps working; new logins with those keys fail).
	RemoveSessionKeys bool `json:"remove_session_keys,omitempty"`
	// PackerHost identifies the machine Packer runs on: a root that is that machine's own
	// "/" is refused (ErrPackerHost), whatever AllowLiveRoot says.
	PackerHost *HostIdentity `json:"packer_host,omitempty"`
}

// ErrPackerHost is returned when a live run would clean the machine Packer itself runs on.
var ErrPackerHost = errors.New("clean: refusing to clean the root of the machine Packer runs on " +
	"(the communicator reached Packer's own host, not a remote guest)")

// HostIdentity tells machines and their root filesystems apart.
//
// The identity of the Packer host is sent to the guest, which is not trusted: Keyed replaces
// its machine-id and boot id by HMAC-SHA256 values under a fresh random key, so the guest can
// tell whether it runs on that machine (it keys its own ids the same way) but learns nothing
// it could use to recognise or impersonate the host elsewhere (machine-id(5) asks that it
// never leave the machine unhashed).
type HostIdentity struct {
	// Key (hex), when set, is the HMAC key MachineID and BootID were hashed with.
	Key string `json:"key,omitempty"`
	// MachineID is /etc/machine-id (empty when absent or uninitialized), or its keyed hash.
	MachineID string `json:"machine_id,omitempty"`
	// BootID is the running kernel's /proc/sys/kernel/random/boot_id (empty without /proc),
	// or its keyed hash.
	BootID string `json:"boot_id,omitempty"`
	// RootDev and RootIno identify the "/" directory on that kernel.
	RootDev uint64 `json:"root_dev"`
	RootIno uint64 `json:"root_ino"`
}

// LocalIdentity returns the identity of the machine and root the calling process runs in.
func LocalIdentity() HostIdentity {
	var h HostIdentity
	if b, err := os.ReadFile("/etc/machine-id"); err == nil {
		if s := strings.TrimSpace(string(b)); s != "uninitialized" {
			h.MachineID = s
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		h.BootID = strings.TrimSpace(string(b))
	}
	if fi, err := os.Stat("/"); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			h.RootDev, h.RootIno = uint64(st.Dev), st.Ino
		}
	}
	return h
}

// Keyed returns h with MachineID and BootID hashed under a new random key (h must not be
// keyed already).
func (h HostIdentity) Keyed() (HostIdentity, error) {
	if h.Key != "" {
		return h, errors.New("clean: host identity is keyed already")
	}
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		return h, err
	}
	return h.keyedWith(hex.EncodeToString(k[:])), nil
}

// keyedWith returns unkeyed h with its ids hashed under key (hex).
func (h HostIdentity) keyedWith(key string) HostIdentity {
	sum := func(v string) string {
		if v == "" {
			return ""
		}
		m := hmac.New(sha256.New, []byte(key))
		m.Write([]byte(v))
		return hex.EncodeToString(m.Sum(nil))
	}
	h.Key, h.MachineID, h.BootID = key, sum(h.MachineID), sum(h.BootID)
	return h
}

// SameRoot reports whether h and o are the same root of the same machine, and why. When one
// of them is keyed the other is keyed with the same key first; two identities keyed with
// different keys cannot be compared and are not the same. The same
// machine-id means the same installed system; the same boot id means the same running kernel,
// on which the same "/" device and inode mean the same root (a chroot or container on the
// same kernel has another "/"). Root device numbers are not compared across kernels: two
// machines' roots often have the same ones.
func (h HostIdentity) SameRoot(o HostIdentity) (bool, string) {
	switch {
	case h.Key == o.Key:
	case o.Key == "":
		o = o.keyedWith(h.Key)
	case h.Key == "":
		h = h.keyedWith(o.Key)
	default:
		return false, ""
	}
	if h.MachineID != "" && h.MachineID == o.MachineID {
		return true, "same machine-id"
	}
	if h.BootID != "" && h.BootID == o.BootID && h.RootDev == o.RootDev && h.RootIno == o.RootIno {
		return true, fmt.Sprintf("same running kernel (boot id) and same / (device %d, inode %d)", h.RootDev, h.RootIno)
	}
	return false, ""
}

// liveState is the per-run state of the live rules.
type liveState struct {
	protect   map[[2]uint64]string // protected files and directories -> guest path
	ancestors map[[2]uint64]string // directories holding a protected path -> that path
	keepUsers map[string]string    // account -> why it is kept
}

// setupLive resolves the live rules of opts on root (after the foreign mounts are known).
func (st *state) setupLive(root *guestfs.Root, opts *Options) error {
	lv := opts.Live
	if lv == nil {
		return nil
	}
	if lv.PackerHost != nil {
		if same, why := lv.PackerHost.SameRoot(LocalIdentity()); same {
			return fmt.Errorf("%w: %s", ErrPackerHost, why)
		}
	}
	ls := &liveState{protect: map[[2]uint64]string{}, ancestors: map[[2]uint64]string{}, keepUsers: map[string]string{}}
	st.live = ls
	for _, u := range lv.SessionUsers {
		if u == "" {
			continue
		}
		ls.keepUsers[u] = "the communicator's login user (live system)"
	}
	for u, why := range localSessionUsers() {
		if _, ok := ls.keepUsers[u]; !ok {
			ls.keepUsers[u] = why
		}
	}
	users := map[string]passwdEntry{}
	if b, err := root.ReadFile("/etc/passwd"); err == nil {
		for _, u := range parsePasswd(b) {
			if _, dup := users[u.Name]; !dup && u.valid {
				users[u.Name] = u
			}
		}
	}
	owners := map[int]int{}
	if st.rootID == localRootID() { // the process's own "/": its /proc is the guest's
		owners = processOwners()
	}
	for uid, pid := range owners {
		for _, u := range users {
			if u.UID == uid {
				if _, ok := ls.keepUsers[u.Name]; !ok {
					ls.keepUsers[u.Name] = fmt.Sprintf("owns running process %d (live system)", pid)
				}
			}
		}
	}
	protect := append([]string(nil), lv.Protect...)
	if !lv.RemoveSessionKeys {
		var names []string
		for n, why := range ls.keepUsers {
			if !strings.HasPrefix(why, "owns running") {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		for _, n := range names {
			if u, ok := users[n]; ok && u.Home != "" && u.Home != "/" {
				protect = append(protect, clean(u.Home)+"/.ssh/authorized_keys", clean(u.Home)+"/.ssh/authorized_keys2")
			}
		}
	}
	for _, p := range protect {
		ls.addProtected(root, st, clean(p))
	}
	return nil
}

// addProtected records p (when it exists) and the directories leading to it, found with
// ".." from p's resolved location so symlinked paths are judged where they lead.
func (ls *liveState) addProtected(root *guestfs.Root, st *state, p string) {
	fi, err := root.Lstat(p)
	if err != nil {
		return
	}
	if id, ok := fileID(fi); ok {
		ls.protect[id] = p
	}
	q := path.Dir(p)
	for i := 0; i < 128; i++ {
		fi, err := root.Stat(q)
		if err != nil {
			return
		}
		id, ok := fileID(fi)
		if !ok || id == st.rootID {
			return
		}
		if _, seen := ls.ancestors[id]; !seen {
			ls.ancestors[id] = p
		}
		q += "/.."
	}
}

// liveGuard returns why p must not be touched on a live system ("" when it may).
func (e *Env) liveGuard(p string) string {
	ls := e.st.live
	if ls == nil {
		return ""
	}
	fi, err := e.Root.Lstat(p)
	if err != nil {
		return ""
	}
	if id, ok := fileID(fi); ok {
		if q, bad := ls.protect[id]; bad {
			return "protected on the live system (" + q + "): kept"
		}
	}
	if fi.Mode()&(fs.ModeSocket|fs.ModeNamedPipe) != 0 {
		return guestfs.TypeName(fi.Mode()) + " of a running system: not removed"
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		if t, err := e.Root.Stat(p); err == nil {
			if id, ok := fileID(t); ok {
				if q, bad := ls.protect[id]; bad {
					return "leads to a path protected on the live system (" + q + "): kept"
				}
			}
		}
	}
	return ""
}

// liveHolds reports whether p is a real directory (not a symlink) holding a protected path,
// and which.
func (e *Env) liveHolds(p string) (string, bool) {
	ls := e.st.live
	if ls == nil {
		return "", false
	}
	fi, err := e.Root.Lstat(p)
	if err != nil || !fi.IsDir() {
		return "", false
	}
	id, ok := fileID(fi)
	if !ok {
		return "", false
	}
	if _, self := ls.protect[id]; self {
		return "", false // protected itself: guard refuses it whole
	}
	q, held := ls.ancestors[id]
	return q, held
}

// liveFilterVictims drops from the accounts user-account would remove those a live system
// keeps, and reports each.
func (e *Env) liveFilterVictims(victims []passwdEntry) []passwdEntry {
	if e.st.live == nil {
		return victims
	}
	var out []passwdEntry
	for _, u := range victims {
		if why, kept := e.st.live.keepUsers[u.Name]; kept {
			e.Skip("/etc/passwd", "file", fmt.Sprintf("user %q kept: %s", u.Name, why))
			continue
		}
		out = append(out, u)
	}
	return out
}

// localSessionUsers names the accounts of the process's own session: its user, the user sudo
// was run from, and the login user of the session (audit loginuid).
func localSessionUsers() map[string]string {
	out := map[string]string{}
	if u, err := user.LookupId(strconv.Itoa(os.Getuid())); err == nil {
		out[u.Username] = "the user the cleaning runs as (live system)"
	}
	if s := os.Getenv("SUDO_USER"); s != "" {
		out[s] = "the user sudo was run from (live system)"
	}
	if b, err := os.ReadFile("/proc/self/loginuid"); err == nil {
		if id := strings.TrimSpace(string(b)); id != "" && id != "4294967295" {
			if u, err := user.LookupId(id); err == nil {
				if _, ok := out[u.Username]; !ok {
					out[u.Username] = "the login user of the session (live system)"
				}
			}
		}
	}
	return out
}

// processOwners maps the real UIDs owning running processes of this system (processes whose
// root directory is the caller's: not those of the host around a chroot or container) to one
// of their PIDs. Empty when /proc is not mounted.
func processOwners() map[int]int {
	self := localRootID()
	out := map[int]int{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, d := range ents {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		fi, err := os.Stat("/proc/" + d.Name() + "/root")
		if err != nil {
			continue
		}
		if id, ok := fileID(fi); !ok || id != self {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/status")
		if err != nil {
			continue
		}
		for _, l := range bytes.Split(b, []byte("\n")) {
			if f := strings.Fields(string(l)); len(f) >= 2 && f[0] == "Uid:" {
				if uid, err := strconv.Atoi(f[1]); err == nil {
					if _, seen := out[uid]; !seen {
						out[uid] = pid
					}
				}
				break
			}
		}
	}
	return out
}

// localRootID is the (device, inode) of the calling process's "/".
func localRootID() [2]uint64 {
	h := LocalIdentity()
	return [2]uint64{h.RootDev, h.RootIno}
}
