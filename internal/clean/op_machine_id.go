//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "machine-id",
		Description: "Empty /etc/machine-id (regenerated at the next boot) and remove D-Bus's own copy",
		Default:     true,
		Run: func(e *Env) error {
			e.Truncate("/etc/machine-id")
			// libdbus reads /var/lib/dbus/machine-id before /etc/machine-id: an empty one is
			// invalid, a missing one falls back. A symlink (usually to /etc/machine-id) stays.
			if fi, err := e.Lstat("/var/lib/dbus/machine-id"); err == nil && fi.Mode().IsRegular() {
				e.Remove("/var/lib/dbus/machine-id")
			}
			return nil
		},
	})
}
