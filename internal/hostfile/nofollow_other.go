//go:build !unix

package hostfile

// oNoFollow is 0 where open has no O_NOFOLLOW (Windows: creating a symlink there needs a
// privilege or developer mode, and the plugin writes only below directories the user names).
const oNoFollow = 0
