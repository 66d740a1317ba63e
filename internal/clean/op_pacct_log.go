//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "pacct-log",
		Description: "Empty the process accounting log",
		Default:     true,
		Run: func(e *Env) error {
			e.TruncateGlob("/var/account/pacct", "/var/log/account/pacct", "/var/log/pacct")
			e.RemoveGlob("/var/account/pacct?*", "/var/log/account/pacct?*")
			return nil
		},
	})
}
