//go:build !linux

package sandbox

import "io"

// Options configure a guest program (as in sandbox.go). Elsewhere than Linux the package has
// only this type, which a builder's configuration names; guest programs run on Linux only
// (namespaces, seccomp, bubblewrap).
type Options struct {
	Network        bool
	Env            []string
	TrustGuest     bool
	Dir            string
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}
