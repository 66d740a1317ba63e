//go:build linux

package common

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/sandbox"
)

// Communicator runs provisioners' commands inside the guest tree, like the SDK's chroot
// communicator, with three differences that matter for untrusted guests and real scripts:
//   - commands run in internal/sandbox (unless Programs.TrustGuest), with a fixed
//     environment: the guest's /bin/sh never sees the host's /proc, /dev, processes or
//     environment (cloud credentials included);
//   - files move in-root: the SDK's Upload and Download run `cp` on host paths, which follows
//     a guest symlink such as /etc/motd -> /root/.bashrc out of the guest onto the host;
//   - commands go to the guest's shell as one argv element: the SDK passes them through a
//     host `/bin/sh -c "..."`, so the host shell expands `$VAR` and backquotes before the
//     guest sees them.
type Communicator struct {
	Chroot   string
	Programs sandbox.Options
	guest    *guestfs.Root
}

var _ packersdk.Communicator = (*Communicator)(nil)

// NewCommunicator returns a communicator for the guest tree mounted on dir whose commands
// run as programs says.
func NewCommunicator(dir string, guest *guestfs.Root, programs sandbox.Options) *Communicator {
	return &Communicator{Chroot: dir, guest: guest, Programs: programs}
}

// Start runs cmd.Command with the guest's /bin/sh inside the guest tree. The command is not
// tied to ctx (the SDK's communicators are not either): the provisioner waits for it, and an
// interrupted build kills what runs in the tree before releasing it.
func (c *Communicator) Start(ctx context.Context, cmd *packersdk.RemoteCmd) error {
	o := c.Programs
	o.Stdin, o.Stdout, o.Stderr = cmd.Stdin, cmd.Stdout, cmd.Stderr
	local, err := sandbox.Command(context.Background(), c.Chroot, []string{"/bin/sh", "-c", cmd.Command}, o)
	if err != nil {
		return err
	}
	how := "sandbox"
	if o.TrustGuest {
		how = "chroot (sandbox = false: the guest is trusted)"
	}
	log.Printf("Executing in %s %s: %q", how, c.Chroot, cmd.Command)
	if err := local.Start(); err != nil {
		local.Close()
		return fmt.Errorf("start the guest's /bin/sh: %w", err)
	}
	go func() {
		defer local.Close()
		status := 0
		if err := local.Wait(); err != nil {
			status = 1
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				status = ee.ExitCode()
				if status < 0 {
					status = 128 + 9 // killed by a signal
				}
			}
		}
		log.Printf("Chroot command exited with %d: %q", status, cmd.Command)
		cmd.SetExited(status)
	}()
	return nil
}

// Upload writes r to the guest path dst.
func (c *Communicator) Upload(dst string, r io.Reader, fi *os.FileInfo) error {
	mode := os.FileMode(0o644)
	if fi != nil && *fi != nil {
		mode = (*fi).Mode().Perm()
	}
	log.Printf("Uploading to guest %s", dst)
	f, err := c.guest.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// UploadDir copies the host directory src into the guest directory dst; with a trailing
// slash on src its contents go straight into dst, as rsync and the other communicators do.
func (c *Communicator) UploadDir(dst string, src string, exclude []string) error {
	if !strings.HasSuffix(src, "/") {
		dst = path.Join(dst, filepath.Base(src))
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if excluded(rel, exclude) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := path.Join(dst, filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return c.guest.MkdirAll(target, info.Mode().Perm())
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			c.guest.Remove(target)
			return c.guest.Symlink(link, target)
		case info.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			return c.Upload(target, f, &info)
		}
		return nil
	})
}

func excluded(rel string, exclude []string) bool {
	for _, e := range exclude {
		if ok, _ := filepath.Match(e, rel); ok || rel == e {
			return true
		}
	}
	return false
}

// Download copies the guest file src to w.
func (c *Communicator) Download(src string, w io.Writer) error {
	f, err := c.guest.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("download %s: not a regular file", src)
	}
	_, err = io.Copy(w, f)
	return err
}
