package diskimage

import "os"

// writeback starts the kernel's writeback of the output file's freshly written bytes while
// the writer goes on reading and encoding, so that the disk writes the output during the
// conversion instead of all at once when the caller syncs it: with the default dirty page
// limits (10% of RAM before background writeback) a 1 GiB output would otherwise sit in the
// page cache until the final fsync, and reading the input and writing the output would
// run one after the other. The requests (sync_file_range SYNC_FILE_RANGE_WRITE: start
// writeback, do not wait) are made from one goroutine, since they can block on a busy
// device queue; when it falls behind, ranges are merged, never queued without bound. It
// does not make anything durable: the caller still fsyncs if it needs to.
type writeback struct {
	f      *os.File
	issued int64 // bytes below this offset have been handed to the kernel
	ch     chan [2]int64
	done   chan struct{}
}

// writebackStep is how many newly written bytes make one writeback request.
const writebackStep = 8 << 20

// newWriteback returns a writeback for f, or nil where the platform has no such request
// (every method is a no-op on nil).
func newWriteback(f *os.File) *writeback {
	if !haveWriteback {
		return nil
	}
	w := &writeback{f: f, ch: make(chan [2]int64, 4), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for r := range w.ch {
			startWriteback(w.f, r[0], r[1])
		}
	}()
	return w
}

// advance says that the bytes of the file below end are written (the writers append; the
// metadata they patch behind the cursor is left to the final sync).
func (w *writeback) advance(end int64) {
	if w == nil {
		return
	}
	// Whole pages only: a partly written last page is likely to be written again.
	end &^= 4095
	if end-w.issued < writebackStep {
		return
	}
	select {
	case w.ch <- [2]int64{w.issued, end - w.issued}:
		w.issued = end
	default: // the kernel is busy: ask for a longer range next time
	}
}

// stop waits for the outstanding requests; it does not wait for the writeback itself.
func (w *writeback) stop() {
	if w == nil || w.ch == nil {
		return
	}
	close(w.ch)
	<-w.done
	w.ch = nil
}
