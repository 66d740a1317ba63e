//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "dhcp-server-state",
		Description: "Remove DHCP server leases",
		Default:     true,
		Run: globs([]string{"/var/lib/dhcpd/*", "/var/lib/dhcp/dhcpd.leases*", "/var/lib/dhcp/dhcpd6.leases*",
			"/var/lib/misc/dnsmasq.leases"}, nil),
	})
}
