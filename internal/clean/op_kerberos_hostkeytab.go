//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "kerberos-hostkeytab",
		Description: "Remove the Kerberos host keytab",
		Default:     true,
		Run:         globs([]string{"/etc/krb5.keytab"}, nil),
	})
}
