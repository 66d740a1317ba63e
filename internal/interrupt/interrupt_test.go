package interrupt

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"
)

// A signal that came before the context was made cancels it at once; a context made earlier
// is cancelled when the signal comes. (Watch's handler keeps the test process alive.)
func TestInterruptCancelsContexts(t *testing.T) {
	Watch()
	before, cancelBefore := Context(context.Background())
	defer cancelBefore()
	if Interrupted() || before.Err() != nil {
		t.Fatal("interrupted before any signal")
	}
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-before.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a context made before the signal was not cancelled by it")
	}
	if !errors.Is(context.Cause(before), ErrInterrupted) {
		t.Errorf("cause %v, want ErrInterrupted", context.Cause(before))
	}
	after, cancelAfter := Context(context.Background())
	defer cancelAfter()
	select {
	case <-after.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a context made after the signal was not cancelled")
	}
	if !Interrupted() {
		t.Error("Interrupted() = false after SIGINT")
	}
}
