//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "firewall-rules",
		Description: "Remove the firewall rules (iptables, nftables, firewalld zones and services)",
		Default:     false,
		Run: globs([]string{"/etc/sysconfig/iptables", "/etc/sysconfig/ip6tables", "/etc/firewalld/services/*",
			"/etc/firewalld/zones/*", "/etc/iptables/rules.v4", "/etc/iptables/rules.v6", "/etc/sysconfig/nftables.conf"}, nil),
	})
}
