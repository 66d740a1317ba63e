//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "ssh-userdir",
		Description: "Remove the .ssh directories of root and of every user home",
		Default:     true,
		Run: func(e *Env) error {
			for _, h := range e.Homes() {
				e.Remove(h + "/.ssh")
			}
			return nil
		},
	})
}
