//go:build unix

package hostfile

import "syscall"

// oNoFollow makes Create refuse a symlink as its final component.
const oNoFollow = syscall.O_NOFOLLOW
