package guestfs

// Options returns the options the Root was opened with (callers such as a dry run use them to
// predict what the policies will refuse).
func (r *Root) Options() Options { return r.opts }
