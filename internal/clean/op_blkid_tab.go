//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "blkid-tab",
		Description: "Remove the blkid cache (blkid.tab)",
		Default:     true,
		Run: globs([]string{"/var/run/blkid.tab", "/var/run/blkid.tab.old", "/etc/blkid/blkid.tab",
			"/etc/blkid/blkid.tab.old", "/etc/blkid.tab", "/etc/blkid.tab.old", "/dev/.blkid.tab",
			"/dev/.blkid.tab.old", "/run/blkid/blkid.tab", "/run/blkid/blkid.tab.old"}, nil),
	})
}
