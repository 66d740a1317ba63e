//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "mail-spool",
		Description: "Remove the local mail spool",
		Default:     true,
		Run: func(e *Env) error {
			e.RemoveContents("/var/spool/mail")
			e.RemoveContents("/var/mail")
			return nil
		},
	})
}
