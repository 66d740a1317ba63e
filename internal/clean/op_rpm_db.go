//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "rpm-db",
		Description: "Remove the host-specific RPM database environment files (__db.*)",
		Default:     true,
		AppliesTo:   "rpm-based guests (Red Hat and SUSE families)",
		Applies:     onlyRPM,
		Run:         globs([]string{"/var/lib/rpm/__db.*"}, nil),
	})
}
