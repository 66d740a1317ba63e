//go:build linux

package clean

import "regexp"

var hostnameLine = regexp.MustCompile(`^\s*(export\s+)?(DHCP_)?HOSTNAME\s*=`)

func init() {
	Register(Op{
		Name:        "net-hostname",
		Description: "Remove the HOSTNAME and DHCP_HOSTNAME lines of the ifcfg network configuration files",
		Default:     true,
		AppliesTo:   "rpm-based guests (Red Hat and SUSE families)",
		Applies:     onlyRPM,
		Run: func(e *Env) error {
			for _, p := range e.Glob(ifcfgGlobs...) {
				e.EditLines(p, EditOptions{}, func(x *Lines) { x.DeleteFunc(hostnameLine.MatchString) })
			}
			return nil
		},
	})
}
