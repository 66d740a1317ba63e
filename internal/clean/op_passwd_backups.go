//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "passwd-backups",
		Description: "Remove the backups of the account files (/etc/passwd- and friends)",
		Default:     true,
		Run: globs([]string{"/etc/group-", "/etc/gshadow-", "/etc/passwd-", "/etc/shadow-",
			"/etc/subuid-", "/etc/subgid-", "/etc/group.OLD", "/etc/passwd.OLD", "/etc/shadow.OLD"}, nil),
	})
}
