//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "cron-spool",
		Description: "Remove user at-jobs and cron-jobs (the spool directories are kept)",
		Default:     true,
		Run: func(e *Env) error {
			// Debian keeps jobs in /var/spool/cron/{crontabs,atjobs,atspool}, Red Hat in
			// /var/spool/cron and /var/spool/at. The directories have special owners and
			// modes (crontab:1730...), so only their content goes; at's .SEQ counter is reset.
			for _, d := range []string{"/var/spool/cron/crontabs", "/var/spool/cron/atjobs", "/var/spool/cron/atspool",
				"/var/spool/atjobs", "/var/spool/atspool", "/var/spool/at/spool"} {
				e.RemoveContents(d, ".SEQ")
			}
			// Red Hat: /var/spool/cron holds one crontab per user directly.
			for _, p := range e.Glob("/var/spool/cron/*") {
				if fi, err := e.Lstat(p); err == nil && !fi.IsDir() {
					e.Remove(p)
				}
			}
			for _, p := range e.Glob("/var/spool/at/*") {
				if fi, err := e.Lstat(p); err == nil && !fi.IsDir() && p != "/var/spool/at/.SEQ" {
					e.Remove(p)
				}
			}
			e.TruncateGlob("/var/spool/cron/atjobs/.SEQ", "/var/spool/atjobs/.SEQ", "/var/spool/at/.SEQ")
			return nil
		},
	})
}
