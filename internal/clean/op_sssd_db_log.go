//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "sssd-db-log",
		Description: "Remove the SSSD caches and logs",
		Default:     true,
		Run:         globs([]string{"/var/lib/sss/db/*"}, []string{"/var/log/sssd/*"}),
	})
}
