//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "crash-data",
		Description: "Remove the kernel crash dumps (kdump, systemd-coredump)",
		Default:     true,
		Run:         globs([]string{"/var/crash/*", "/var/log/dump/*", "/var/lib/systemd/coredump/*"}, nil),
	})
}
