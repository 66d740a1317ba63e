//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "dovecot-data",
		Description: "Remove Dovecot (mail server) data",
		Default:     true,
		Run:         globs([]string{"/var/lib/dovecot/*"}, nil),
	})
}
