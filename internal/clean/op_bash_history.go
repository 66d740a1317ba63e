//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "bash-history",
		Description: "Remove the bash history of root and of every user home",
		Default:     true,
		Run: func(e *Env) error {
			for _, h := range e.Homes() {
				e.Remove(h + "/.bash_history")
			}
			return nil
		},
	})
}
