//go:build linux

package clean

func init() {
	Register(Op{
		Name:        "random-seed",
		Description: "Remove the saved random seeds and systemd's per-machine credential secret",
		Default:     true,
		Run: globs([]string{"/var/lib/systemd/random-seed", "/var/lib/random-seed", "/var/lib/urandom/random-seed",
			"/var/lib/systemd/credential.secret", "/boot/efi/loader/random-seed", "/boot/loader/random-seed"}, nil),
	})
}
