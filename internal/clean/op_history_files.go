//go:build linux

package clean

// historyFiles are per-user histories of other interactive tools (relative to a home).
var historyFiles = []string{
	".sh_history", ".ash_history", ".history", ".python_history", ".mysql_history", ".psql_history",
	".sqlite_history", ".node_repl_history", ".rediscli_history", ".lesshst", ".viminfo",
	".wget-hsts", ".local/share/fish/fish_history", ".config/fish/fish_history", ".irb_history",
	".local/share/recently-used.xbel",
}

func init() {
	Register(Op{
		Name:        "history-files",
		Description: "Remove other per-user histories (sh, python, mysql, psql, sqlite, node, less, vim, wget, fish...)",
		Default:     true,
		Run: func(e *Env) error {
			for _, h := range e.Homes() {
				for _, f := range historyFiles {
					e.Remove(h + "/" + f)
				}
			}
			return nil
		},
	})
}
