// Package interrupt remembers whether this process was interrupted (SIGINT or SIGTERM) and
// cancels contexts when it is, whether the signal came before or after the context was made.
//
// Why: Packer runs every post-processor chain of a build, one after the other, even after the
// user pressed Ctrl-C, and the plugin SDK drops a Cancel that reaches a post-processor before
// its PostProcess has made its context (packer-plugin-sdk rpc.PostProcessorServer), so a later
// chain would start with a context that never ends and publish an image after the interrupt.
// Packer sends the signal to the plugin processes too (one process group); the SDK ignores it
// there. Watch, called once at plugin start, records it; Context joins it to Packer's context.
package interrupt

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// ErrInterrupted is the cause of a context cancelled by a signal to this process.
var ErrInterrupted = errors.New("interrupted (the build was cancelled)")

var (
	once sync.Once
	done = make(chan struct{})
)

// Watch starts recording SIGINT and SIGTERM. It does not change what else the process does on
// them (the Packer plugin SDK already ignores them in plugin processes). Call it before serving.
func Watch() {
	once.Do(func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
		go func() {
			<-ch
			close(done)
		}()
	})
}

// Interrupted says whether this process has received SIGINT or SIGTERM since Watch.
func Interrupted() bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// Context returns a context that ends with parent or when this process is (or was already)
// interrupted, with ErrInterrupted as its cause then.
func Context(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	stop := make(chan struct{})
	go func() {
		select {
		case <-done:
			cancel(ErrInterrupted)
		case <-ctx.Done():
		case <-stop:
		}
	}()
	var stopOnce sync.Once
	return ctx, func() { stopOnce.Do(func() { close(stop) }); cancel(context.Canceled) }
}
