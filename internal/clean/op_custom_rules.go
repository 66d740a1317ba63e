//go:build linux

package clean

import (
	"regexp"
	"strings"
)

func init() {
	Register(Op{
		Name:        "custom-rules",
		Description: "Apply the template's custom rules: remove globs, truncate globs, delete or replace lines by regexp, append lines when absent",
		Default:     true,
		Order:       90,
		Run:         runCustomRules,
	})
}

func runCustomRules(e *Env) error {
	r := e.Opts.Rules
	if r.Empty() {
		return nil
	}
	e.RemoveGlob(r.Remove...)
	e.TruncateGlob(r.Truncate...)
	files := func(pattern string) []string {
		var out []string
		for _, p := range e.Glob(pattern) {
			if e.IsFile(p) {
				out = append(out, p)
			}
		}
		return out
	}
	for _, lr := range r.DeleteLines {
		re := regexp.MustCompile(lr.Regexp) // validated by Options.Validate
		for _, p := range files(lr.File) {
			e.EditLines(p, EditOptions{}, func(x *Lines) {
				x.DeleteFunc(func(l string) bool { return re.MatchString(strings.TrimSuffix(l, "\r")) })
			})
		}
	}
	for _, lr := range r.ReplaceLines {
		re := regexp.MustCompile(lr.Regexp)
		for _, p := range files(lr.File) {
			e.EditLines(p, EditOptions{}, func(x *Lines) {
				for i := 0; i < len(x.L); i++ {
					l := x.L[i]
					cr := strings.HasSuffix(l, "\r")
					body := strings.TrimSuffix(l, "\r")
					if !re.MatchString(body) {
						continue
					}
					n := re.ReplaceAllString(body, lr.Replacement)
					if cr {
						n += "\r"
					}
					x.Set(i, n)
				}
			})
		}
	}
	for _, ar := range r.AppendLines {
		targets := files(ar.File)
		if len(targets) == 0 && ar.Create && !e.Exists(ar.File) {
			targets = []string{ar.File}
		}
		for _, p := range targets {
			e.EditLines(p, EditOptions{Create: ar.Create}, func(x *Lines) {
				for _, l := range x.L {
					if strings.TrimSuffix(l, "\r") == ar.Line {
						return
					}
				}
				x.Append(ar.Line)
			})
		}
	}
	return nil
}
