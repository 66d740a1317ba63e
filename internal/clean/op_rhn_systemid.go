//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "rhn-systemid",
		Description: "Remove the RHN system ID",
		Default:     true,
		AppliesTo:   "Red Hat family",
		Applies:     onlyRHEL,
		Run:         globs([]string{"/etc/sysconfig/rhn/systemid", "/etc/sysconfig/rhn/osad-auth.conf"}, nil),
	})
}
