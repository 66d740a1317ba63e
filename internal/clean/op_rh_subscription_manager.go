//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "rh-subscription-manager",
		Description: "Remove the Red Hat subscription manager consumer and entitlement files",
		Default:     true,
		AppliesTo:   "Red Hat family",
		Applies:     onlyRHEL,
		Run:         globs([]string{"/etc/pki/consumer/*", "/etc/pki/entitlement/*"}, nil),
	})
}
