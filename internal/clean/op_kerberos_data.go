//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "kerberos-data",
		Description: "Remove Kerberos data (keytab and KDC database; kadm5.acl and kdc.conf are kept)",
		Default:     false,
		Groups:      []string{GroupChromogenic},
		Run: func(e *Env) error {
			e.Remove("/etc/krb5.keytab")
			for _, p := range e.Glob("/var/kerberos/krb5kdc/*") {
				if b := baseName(p); b != "kadm5.acl" && b != "kdc.conf" {
					e.Remove(p)
				}
			}
			return nil
		},
	})
}
