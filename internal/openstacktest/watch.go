package openstacktest

import "time"

// Watch calls states every interval, in a goroutine, until stop is called; stop returns the
// states seen, each one that differs from the one before it (what an image goes through while
// a test uploads it, as seen by its owner and another project).
func Watch(interval time.Duration, states func() []string) (stop func() []string) {
	quit := make(chan struct{})
	done := make(chan []string)
	go func() {
		var seen []string
		last := ""
		for {
			select {
			case <-quit:
				done <- seen
				return
			case <-time.After(interval):
			}
			for _, s := range states() {
				if s != last {
					seen = append(seen, s)
					last = s
				}
			}
		}
	}()
	return func() []string {
		close(quit)
		return <-done
	}
}
