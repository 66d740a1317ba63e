//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "ipa-client",
		Description: "Remove the IPA (FreeIPA) client enrolment files",
		Default:     true,
		Run: globs([]string{"/etc/ipa/ca.crt", "/etc/ipa/default.conf", "/etc/ipa/nssdb/*",
			"/var/lib/ipa-client/sysrestore/*", "/var/lib/ipa-client/pki/*"}, nil),
	})
}
