package transfer

import "io"

// ReadAhead reads r in a goroutine, up to depth chunks of chunk bytes ahead of its reader, so
// that a producer (a download, an image converter behind an io.Pipe) and an upload that
// consumes it do not wait for each other's every round trip. r's error (a hash mismatch at
// the end of a download) reaches the reader after the data before it. Chunk buffers are
// reused once read.
type ReadAhead struct {
	ch   chan raChunk
	free chan []byte
	stop chan struct{}
	cur  []byte // unread part of buf
	buf  []byte
	err  error
}

type raChunk struct {
	b   []byte
	err error
}

// NewReadAhead starts reading r. Close it when done; closing r as well ends a read in flight.
func NewReadAhead(r io.Reader, chunk, depth int) *ReadAhead {
	ra := &ReadAhead{ch: make(chan raChunk, depth), free: make(chan []byte, depth+1), stop: make(chan struct{})}
	go func() {
		for {
			var buf []byte
			select {
			case buf = <-ra.free:
			default:
				buf = make([]byte, chunk)
			}
			n, err := io.ReadFull(r, buf)
			if err == io.ErrUnexpectedEOF {
				err = io.EOF
			}
			select {
			case ra.ch <- raChunk{b: buf[:n], err: err}:
			case <-ra.stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return ra
}

func (ra *ReadAhead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		if ra.buf != nil {
			select { // the chunk is read: the goroutine may fill it again
			case ra.free <- ra.buf[:cap(ra.buf)]:
			default:
			}
			ra.buf = nil
		}
		if ra.err != nil {
			return 0, ra.err
		}
		c := <-ra.ch
		ra.cur, ra.buf, ra.err = c.b, c.b, c.err
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// Close stops the goroutine (the caller closes r, which ends a read in flight).
func (ra *ReadAhead) Close() error {
	close(ra.stop)
	return nil
}
