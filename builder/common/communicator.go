package common

import (
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"path"
	"path/filepath"
	"strings"

	sdkchroot "github.com/hashicorp/packer-plugin-sdk/chroot"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"
)

// Communicator runs provisioners' commands inside the guest tree with chroot(1), as the SDK's
// chroot communicator does, but moves files in-root: the SDK's Upload and Download use `cp`
// on host paths, which follows a guest symlink such as /etc/motd -> /root/.bashrc out of the
// guest and onto the host. Here every path is resolved inside the guest root.
type Communicator struct {
	*sdkchroot.Communicator
	guest *guestfs.Root
}

// NewCommunicator returns a communicator for the guest tree mounted on dir.
func NewCommunicator(dir string, guest *guestfs.Root) *Communicator {
	return &Communicator{
		Communicator: &sdkchroot.Communicator{
			Chroot:     dir,
			CmdWrapper: func(s string) (string, error) { return s, nil },
		},
		guest: guest,
	}
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

// DownloadDir copies the guest directory src to the host directory dst. Guest symlinks are
// recreated as symlinks, never followed.
func (c *Communicator) DownloadDir(src string, dst string, exclude []string) error {
	return c.guest.Walk(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, path.Clean("/"+src)), "/")
		if rel != "" && excluded(rel, exclude) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, filepath.FromSlash(rel))
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := c.guest.Readlink(p)
			if err != nil {
				return err
			}
			os.Remove(target)
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			out, err := os.Create(target)
			if err != nil {
				return err
			}
			if err := c.Download(p, out); err != nil {
				out.Close()
				return err
			}
			return out.Close()
		}
		return nil
	})
}
