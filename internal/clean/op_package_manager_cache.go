//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "package-manager-cache",
		Description: "Remove the package manager caches (downloaded packages and metadata caches; lock files and directories are kept)",
		Default:     true,
		Run: func(e *Env) error {
			// apt: downloaded .debs and the binary caches (rebuilt by apt on demand).
			e.RemoveGlob("/var/cache/apt/archives/*.deb", "/var/cache/apt/archives/partial/*",
				"/var/cache/apt/*.bin")
			// dnf/yum/zypper/pacman/apk: whole caches (the directories are kept).
			for _, d := range []string{"/var/cache/dnf", "/var/cache/yum", "/var/cache/zypp/packages",
				"/var/cache/pacman/pkg", "/var/cache/apk", "/var/cache/libdnf5"} {
				e.RemoveContents(d)
			}
			return nil
		},
	})
}
