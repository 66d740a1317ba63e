package progress

import (
	"io"
	"sync"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// Bar shows a byte count advancing towards total through Packer's progress bar. Engines
// report progress with callbacks rather than streams; Packer's UI only tracks readers, so a
// reader is fed the deltas without copying any data.
type Bar struct {
	mu       sync.Mutex
	cond     *sync.Cond
	target   int64 // bytes done, as last reported
	consumed int64 // bytes the bar has been shown
	closed   bool
	done     chan struct{}
}

// New starts a progress bar named name for total bytes.
func New(ui packersdk.Ui, name string, total int64) *Bar {
	p := &Bar{done: make(chan struct{})}
	p.cond = sync.NewCond(&p.mu)
	rc := ui.TrackProgress(name, 0, total, progressReader{p})
	go func() {
		defer close(p.done)
		buf := make([]byte, 1<<20)
		for {
			if _, err := rc.Read(buf); err != nil {
				rc.Close()
				return
			}
		}
	}()
	return p
}

// Update is a diskimage.Bar: done bytes of total are processed.
func (p *Bar) Update(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if done > p.target {
		p.target = done
		p.cond.Broadcast()
	}
}

// Close ends the bar.
func (p *Bar) Close() {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
	<-p.done
}

type progressReader struct{ p *Bar }

func (r progressReader) Read(b []byte) (int, error) { return r.p.read(b) }
func (r progressReader) Close() error               { return nil }

func (p *Bar) read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.target == p.consumed && !p.closed {
		p.cond.Wait()
	}
	if p.target == p.consumed {
		return 0, io.EOF
	}
	n := p.target - p.consumed
	if n > int64(len(b)) {
		n = int64(len(b))
	}
	p.consumed += n
	return int(n), nil
}

// Lazy is a Bar started by the first report, once the engine knows the total (a download
// learns it from the source). Its Update is safe for concurrent use.
type Lazy struct {
	ui   packersdk.Ui
	name string
	mu   sync.Mutex
	bar  *Bar
}

// NewLazy returns a bar named name that starts on its first Update.
func NewLazy(ui packersdk.Ui, name string) *Lazy { return &Lazy{ui: ui, name: name} }

// Update is a diskimage.Progress: done bytes of total are processed.
func (l *Lazy) Update(done, total int64) {
	l.mu.Lock()
	if l.bar == nil {
		l.bar = New(l.ui, l.name, total)
	}
	bar := l.bar
	l.mu.Unlock()
	bar.Update(done, total)
}

// Close ends the bar, if it started.
func (l *Lazy) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bar != nil {
		l.bar.Close()
	}
}
