//go:build linux

package clean

// globs returns a Run function removing the matches of remove and truncating the matches of
// truncate, the shape of most virt-sysprep operations.
func globs(remove, truncate []string) func(e *Env) error {
	return func(e *Env) error {
		e.RemoveGlob(remove...)
		e.TruncateGlob(truncate...)
		return nil
	}
}
