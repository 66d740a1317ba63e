//go:build linux

package clean

import (
	"io/fs"
	"path"
	"strings"
)

// backupDirs are walked by backup-files (virt-sysprep's set for Linux).
var backupDirs = []string{"/etc", "/root", "/srv", "/tmp", "/var"}

func isBackupName(n string) bool {
	return strings.HasSuffix(n, "~") || strings.HasSuffix(n, ".bak") || strings.HasSuffix(n, ".dpkg-old") ||
		strings.HasSuffix(n, ".rpmsave") || strings.HasSuffix(n, ".ucf-old")
}

func init() {
	Register(Op{
		Name:        "backup-files",
		Description: "Remove editor and package backup files (*~, *.bak, *.dpkg-old, *.rpmsave, *.ucf-old) under /etc, /root, /srv, /tmp and /var",
		Default:     true,
		Run: func(e *Env) error {
			for _, top := range backupDirs {
				if fi, err := e.Lstat(top); err != nil || !fi.IsDir() {
					continue // a missing or symlinked top directory is not walked
				}
				var found []string
				err := e.Root.Walk(top, func(p string, d fs.DirEntry, err error) error {
					if err != nil {
						return nil // unreadable: skip
					}
					if cerr := e.ctx.Err(); cerr != nil {
						return cerr
					}
					if d.IsDir() {
						// Package databases keep *.bak-like names that are not backups.
						if p == "/var/lib/dpkg" || p == "/var/lib/rpm" || e.gone(p) {
							return fs.SkipDir
						}
						return nil
					}
					if d.Type().IsRegular() && isBackupName(path.Base(p)) {
						found = append(found, p)
					}
					return nil
				})
				if err != nil {
					e.Errorf("walk %s: %v", top, err)
				}
				for _, p := range found {
					e.Remove(p)
				}
			}
			return nil
		},
	})
}
