//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "yum-uuid",
		Description: "Remove the yum/dnf UUID",
		Default:     true,
		AppliesTo:   "rpm-based guests (Red Hat and SUSE families)",
		Applies:     onlyRPM,
		Run:         globs([]string{"/var/lib/yum/uuid", "/var/lib/dnf/uuid"}, nil),
	})
}
