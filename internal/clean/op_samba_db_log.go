//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "samba-db-log",
		Description: "Remove Samba's databases and old logs",
		Default:     true,
		Run:         globs([]string{"/var/log/samba/old/*", "/var/lib/samba/*/*", "/var/cache/samba/*"}, []string{"/var/log/samba/*"}),
	})
}
