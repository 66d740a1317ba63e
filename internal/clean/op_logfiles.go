//go:build linux

package clean

import (
	"io/fs"
	"path"
	"regexp"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"
)

var (
	// Rotated or compressed logs are archives of old content: removed, not emptied.
	rotatedLog = regexp.MustCompile(`(\.(gz|xz|bz2|zst|lz4|lzma|Z|zip)|\.[0-9]+|\.old|-[0-9]{8}(-[0-9]+)?|\.journal~?)$`)
	// A journald per-machine directory (named after the old machine-id).
	journalDir = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

func init() {
	Register(Op{
		Name: "logfiles",
		Description: "Empty every log file under /var/log in place (same inode, owner, mode, xattrs and SELinux label); " +
			"remove rotated and compressed logs, the journal of the old machine-id and installer logs in /root",
		Default: true,
		Order:   80,
		Run: func(e *Env) error {
			fi, err := e.Lstat("/var/log")
			if err != nil {
				return nil
			}
			if !fi.IsDir() {
				e.Skip("/var/log", guestfs.TypeName(fi.Mode()), "not a directory: not followed")
				return nil
			}
			type item struct {
				p    string
				del  bool
				skip string
				typ  string
			}
			var todo []item
			err = e.Root.Walk("/var/log", func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					e.FailOrSkip(p, "dir", "walk", err)
					return nil
				}
				if cerr := e.ctx.Err(); cerr != nil {
					return cerr
				}
				name := path.Base(p)
				switch {
				case d.IsDir():
					if e.gone(p) {
						return fs.SkipDir
					}
					if path.Dir(p) == "/var/log/journal" && journalDir.MatchString(name) {
						todo = append(todo, item{p: p, del: true})
						return fs.SkipDir
					}
				case d.Type()&fs.ModeSymlink != 0:
					todo = append(todo, item{p: p, skip: "symlink: not followed", typ: "symlink"})
				case !d.Type().IsRegular():
					todo = append(todo, item{p: p, skip: "not a regular file: not opened", typ: guestfs.TypeName(d.Type())})
				case rotatedLog.MatchString(name):
					todo = append(todo, item{p: p, del: true})
				default:
					todo = append(todo, item{p: p})
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, it := range todo {
				switch {
				case it.skip != "":
					e.Skip(it.p, it.typ, it.skip)
				case it.del:
					e.Remove(it.p)
				default:
					e.Truncate(it.p)
				}
			}
			// Installer logs and kickstarts left in root's home.
			e.RemoveGlob("/root/anaconda-ks.cfg", "/root/original-ks.cfg", "/root/anaconda-post.log",
				"/root/install.log", "/root/install.log.syslog", "/root/initial-setup-ks.cfg")
			return nil
		},
	})
}
