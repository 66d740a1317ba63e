//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "utmp",
		Description: "Remove the utmp file and empty the wtmp/btmp/lastlog login records",
		Default:     true,
		Run: func(e *Env) error {
			e.RemoveGlob("/var/run/utmp", "/run/utmp")
			e.TruncateGlob("/var/log/wtmp", "/var/log/btmp", "/var/log/lastlog", "/var/log/faillog", "/var/log/tallylog")
			return nil
		},
	})
}
