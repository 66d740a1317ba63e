//go:build linux

package clean

import "regexp"

// ifcfgGlobs are the network interface configuration files of the Red Hat and SUSE families.
var ifcfgGlobs = []string{"/etc/sysconfig/network-scripts/ifcfg-*", "/etc/sysconfig/network/ifcfg-*"}

var hwaddrLine = regexp.MustCompile(`^\s*(export\s+)?HWADDR\s*=`)

func init() {
	Register(Op{
		Name:        "net-hwaddr",
		Description: "Remove the HWADDR (MAC address) lines of the ifcfg network configuration files",
		Default:     true,
		AppliesTo:   "rpm-based guests (Red Hat and SUSE families)",
		Applies:     onlyRPM,
		Run: func(e *Env) error {
			for _, p := range e.Glob(ifcfgGlobs...) {
				e.EditLines(p, EditOptions{}, func(x *Lines) { x.DeleteFunc(hwaddrLine.MatchString) })
			}
			return nil
		},
	})
}
