package ec2common

import (
	"sync"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/chromogenic/packer-plugin-chromogenic/common/progress"
	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
)

// UIReport shows what the EC2 adapter reports (cloud.Report) on Packer's UI: stages with
// Say, details with Message, errors with Error, and the bytes on a progress bar named name,
// opened at the first count and closed at the next stage, at the first line once it is
// full, or by Close.
type UIReport struct {
	ui   packersdk.Ui
	name string

	mu   sync.Mutex
	bar  *progress.Bar
	full bool
}

// NewUIReport reports on ui; name is the progress bar's.
func NewUIReport(ui packersdk.Ui, name string) *UIReport { return &UIReport{ui: ui, name: name} }

// Report is the callbacks to hand the adapter.
func (u *UIReport) Report() cloud.Report {
	return cloud.Report{
		Say:      func(s string) { u.line(true); u.ui.Say(s) },
		Message:  func(s string) { u.line(false); u.ui.Message(s) },
		Error:    func(s string) { u.line(false); u.ui.Error(s) },
		Progress: u.progress,
	}
}

func (u *UIReport) progress(done, total int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.bar == nil {
		u.bar = progress.New(u.ui, u.name, total)
	}
	u.bar.Update(done, total)
	u.full = done >= total
}

// line closes the bar before a line is shown: always before a stage, else once it is full.
func (u *UIReport) line(stage bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.bar != nil && (stage || u.full) {
		u.bar.Close()
		u.bar, u.full = nil, false
	}
}

// Close closes the bar if it is open.
func (u *UIReport) Close() { u.line(true) }
