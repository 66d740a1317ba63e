//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "ca-certificates",
		Description: "Remove locally added CA certificates (Red Hat family anchors)",
		Default:     false,
		AppliesTo:   "Red Hat family",
		Applies:     onlyRHEL,
		Run: globs([]string{"/etc/pki/ca-trust/source/anchors/*", "/etc/pki/CA/certs/*.crt",
			"/etc/pki/CA/crl/*.crt", "/etc/pki/CA/newcerts/*.crt", "/etc/pki/CA/private/*.key",
			"/etc/pki/tls/private/*.key", "/etc/pki/tls/certs/*.crt"}, nil),
	})
}
