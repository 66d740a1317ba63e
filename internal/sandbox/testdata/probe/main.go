// Command probe is the guest program of the sandbox tests: built static and put in a test
// tree, it reports, as JSON on stdout, what a guest program sees and what each escape
// attempt it makes returns. HOST_CANARY (set with -ldflags -X main.canary=...) is a host path
// it tries to write through every route out of the tree.
package main

import (
	"encoding/json"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

var canary = "/nonexistent"

func errno(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func main() {
	r := map[string]any{}
	status, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(status), "\n") {
		for _, k := range []string{"NoNewPrivs", "CapBnd", "CapEff", "Seccomp"} {
			if v, ok := strings.CutPrefix(l, k+":"); ok {
				r[k] = strings.TrimSpace(v)
			}
		}
	}
	r["pid"] = os.Getpid()
	r["hostname"], _ = os.Hostname()
	r["env"] = os.Environ()
	if b, err := os.ReadFile("/proc/1/environ"); err == nil {
		r["pid1env"] = strings.Split(string(b), "\x00")
	}
	var devs []string
	if es, err := os.ReadDir("/dev"); err == nil {
		for _, e := range es {
			devs = append(devs, e.Name())
		}
	}
	r["dev"] = devs
	if es, err := os.ReadDir("/sys"); err == nil {
		r["sys"] = len(es)
	}
	var procs []string
	if es, err := os.ReadDir("/proc"); err == nil {
		for _, e := range es {
			if e.Name()[0] >= '0' && e.Name()[0] <= '9' {
				procs = append(procs, e.Name())
			}
		}
	}
	r["procs"] = procs
	ifs, _ := os.ReadDir("/proc/self/net/dev_snmp6")
	r["netifs"] = len(ifs)
	if b, err := os.ReadFile("/proc/net/dev"); err == nil {
		r["netdev"] = strings.Count(string(b), ":")
	}

	if len(os.Args) > 1 && os.Args[1] == "double-chroot-only" {
		doubleChroot(r)
		json.NewEncoder(os.Stdout).Encode(r)
		return
	}
	// Escapes: each writes the host canary if it works.
	r["mount"] = errno(unix.Mount("tmpfs", "/tmp", "tmpfs", 0, ""))
	r["unshare"] = errno(unix.Unshare(unix.CLONE_NEWUSER))
	_, _, e := unix.RawSyscall6(unix.SYS_CLONE, unix.CLONE_NEWUSER|uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
	if e == 0 {
		os.Exit(0) // the child of a clone that worked
	}
	r["clone_newuser"] = errno(e)
	r["init_module"] = errno(unix.InitModule([]byte("not a module"), ""))
	r["ptrace"] = errno(unix.PtraceAttach(1))
	r["keyctl"] = errno(func() error { _, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, true); return err }())
	r["mknod"] = errno(unix.Mknod("/tmp/sda", unix.S_IFBLK|0o600, int(unix.Mkdev(8, 0))))
	r["core_pattern"] = errno(os.WriteFile("/proc/sys/kernel/core_pattern", []byte("|/bin/false\n"), 0))
	r["proc1root"] = errno(os.WriteFile("/proc/1/root"+canary, []byte("proc1root"), 0o644))
	doubleChroot(r)
	json.NewEncoder(os.Stdout).Encode(r)
}

// doubleChroot is the classic escape from chroot(2): chroot into a subdirectory while the
// working directory stays outside it, climb, chroot to where the climb ended.
func doubleChroot(r map[string]any) {
	_ = os.Mkdir("/tmp/x", 0o755)
	if err := unix.Chroot("/tmp/x"); err == nil {
		for i := 0; i < 64; i++ {
			_ = unix.Chdir("..")
		}
		_ = unix.Chroot(".")
		r["double_chroot"] = errno(os.WriteFile(canary, []byte("double chroot"), 0o644))
	} else {
		r["double_chroot"] = "chroot: " + errno(err)
	}
}
