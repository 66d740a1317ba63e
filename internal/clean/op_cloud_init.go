//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "cloud-init-state",
		Description: "Remove cloud-init's instance state so it runs again at the next boot (like cloud-init clean; the seed directory and the configuration are kept)",
		Default:     true,
		Run: func(e *Env) error {
			e.RemoveContents("/var/lib/cloud", "seed")
			e.RemoveContents("/run/cloud-init")
			e.TruncateGlob("/var/log/cloud-init.log", "/var/log/cloud-init-output.log")
			return nil
		},
	})
}
