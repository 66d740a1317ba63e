//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "dhcp-client-state",
		Description: "Remove DHCP client leases",
		Default:     true,
		Run: globs([]string{"/var/lib/dhclient/*", "/var/lib/dhcp/dhclient*", "/var/lib/dhcp/*.leases",
			"/var/lib/dhcp3/dhclient*", "/var/lib/NetworkManager/*.lease", "/var/lib/NetworkManager/dhclient-*",
			"/var/lib/NetworkManager/internal-*", "/var/lib/dhcpcd/*.lease", "/var/lib/dhcpcd/*.lease6",
			"/var/lib/dhcpcd5/*.lease", "/var/lib/wicked/lease-*", "/var/lib/systemd/network/*.lease",
			"/var/db/dhcpcd/*.lease"}, nil),
	})
}
