//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "smolt-uuid",
		Description: "Remove the Smolt hardware UUID",
		Default:     true,
		Run:         globs([]string{"/etc/sysconfig/hw-uuid", "/etc/smolt/uuid", "/etc/smolt/hw-uuid"}, nil),
	})
}
