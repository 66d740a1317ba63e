//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "tmp-files",
		Description: "Remove the contents of /tmp and /var/tmp (the directories and their modes are kept)",
		Default:     true,
		Run: func(e *Env) error {
			e.RemoveContents("/tmp")
			e.RemoveContents("/var/tmp")
			return nil
		},
	})
}
