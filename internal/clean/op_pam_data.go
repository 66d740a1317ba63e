//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "pam-data",
		Description: "Remove PAM runtime data (console, faillock, sepermit)",
		Default:     true,
		Run:         globs([]string{"/var/run/console/*", "/var/run/faillock/*", "/var/run/sepermit/*"}, nil),
	})
}
