//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "lvm-system-devices",
		Description: "Remove the LVM devices file (it names this machine's disks)",
		Default:     true,
		Run:         globs([]string{"/etc/lvm/devices/system.devices"}, nil),
	})
}
