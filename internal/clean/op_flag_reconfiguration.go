//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "flag-reconfiguration",
		Description: "Create /.unconfigured so the guest reconfigures itself at the next boot (Red Hat initial-setup)",
		Default:     false,
		Run: func(e *Env) error {
			e.CreateFile("/.unconfigured", nil, 0o644)
			return nil
		},
	})
}
