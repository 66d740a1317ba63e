package openstacktest

import "testing"

func TestLoginPrompt(t *testing.T) {
	for in, want := range map[string]bool{
		"Debian GNU/Linux 12 chromogenic-sample ttyS0\r\n\r\nchromogenic-sample login: ":      true,
		"[   61.2] random: crng init done\r\nlocalhost login: [   62.0] late kernel line\r\n": true,
		"[  OK  ] Started systemd-logind.service - User Login Management.\r\n":                false,
		"\x1b[r\x1b[H\x1b[Jchromogenic-sample login: ":                                        true,
		"CHROMOGENIC-AIO-BOOT-OK\r\n":                                                         false,
	} {
		if got := LoginPrompt.MatchString(in); got != want {
			t.Errorf("LoginPrompt.MatchString(%q) = %v", in, got)
		}
	}
}
