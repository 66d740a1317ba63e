//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "net-nmconn",
		Description: "Remove the NetworkManager connection profiles (*.nmconnection)",
		Default:     true,
		AppliesTo:   "Red Hat family",
		Applies:     onlyRHEL,
		Run:         globs([]string{"/etc/NetworkManager/system-connections/*.nmconnection"}, nil),
	})
}
