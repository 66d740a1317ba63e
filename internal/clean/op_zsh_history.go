//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "zsh-history",
		Description: "Remove the zsh history of root and of every user home",
		Default:     true,
		Run: func(e *Env) error {
			for _, h := range e.Homes() {
				e.RemoveGlob(h+"/.zsh_history", h+"/.zhistory")
			}
			return nil
		},
	})
}
