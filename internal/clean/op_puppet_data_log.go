//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "puppet-data-log",
		Description: "Remove the Puppet agent's data and logs (certificates, state, reports)",
		Default:     true,
		Run: globs([]string{"/var/log/puppet/*.log", "/var/lib/puppet/client_data/*", "/var/lib/puppet/client_yaml/*",
			"/var/lib/puppet/clientbucket/*", "/var/lib/puppet/state/*", "/var/lib/puppet/ssl/*",
			"/var/lib/puppet/reports/*", "/var/lib/puppet/run/*.pid", "/etc/puppet/ssl",
			"/etc/puppetlabs/puppet/ssl", "/opt/puppetlabs/puppet/cache/state/*",
			"/opt/puppetlabs/puppet/cache/client_data/*", "/opt/puppetlabs/puppet/cache/clientbucket/*",
			"/var/log/puppetlabs/puppet/*.log"}, nil),
	})
}
