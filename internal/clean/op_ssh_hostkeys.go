//go:build linux

package clean

// sshKeygenDropIn makes Debian's ssh.service create missing host keys before sshd starts
// (Red Hat's sshd has sshd-keygen units; cloud-init also regenerates them).
const sshKeygenDropIn = `# Added by chromogenic-clean: the image was cleaned of its SSH host keys.
# Create the missing ones before sshd starts (ssh-keygen -A keeps existing keys).
[Service]
ExecStartPre=/usr/bin/ssh-keygen -A
`

func init() {
	Register(Op{
		Name:        "ssh-hostkeys",
		Description: "Remove the SSH host keys (on Debian-family systemd guests, also make ssh.service regenerate them at boot)",
		Default:     true,
		Run: func(e *Env) error {
			e.RemoveGlob("/etc/ssh/*_host_*")
			if e.OS.IsDebian() && e.OS.InitSystem == "systemd" && e.IsFile("/usr/sbin/sshd") &&
				(e.IsFile("/lib/systemd/system/ssh.service") || e.IsFile("/usr/lib/systemd/system/ssh.service")) {
				e.CreateFile("/etc/systemd/system/ssh.service.d/chromogenic-regenerate-host-keys.conf", []byte(sshKeygenDropIn), 0o644)
			}
			return nil
		},
	})
}
