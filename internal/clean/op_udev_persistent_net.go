//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "udev-persistent-net",
		Description: "Remove the udev persistent network rules (interface names tied to MAC addresses)",
		Default:     true,
		Run:         globs([]string{"/etc/udev/rules.d/70-persistent-net.rules"}, nil),
	})
}
