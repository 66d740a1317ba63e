package provenance

import (
	"fmt"
	"strings"
)

// From starts producer's record from the record of its input (read from inPath, whose
// SHA-256 is inSHA): the source, block maps, cleaning, boot settings and base carry over,
// the input is named; the outputs are the producer's own. A nil in gives New(producer).
func From(producer string, in *Record, inPath, inSHA string) *Record {
	r := New(producer)
	if in == nil {
		return r
	}
	r.Base, r.Source, r.WorkingCopy, r.OtherDisks = in.Base, in.Source, in.WorkingCopy, in.OtherDisks
	r.Clean, r.Boot = in.Clean, in.Boot
	r.Input, r.InputSHA256 = inPath, inSHA
	return r
}

// Summary is a few human lines about the record (no block hashes).
func (r *Record) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "producer: %s, %s\n", r.Producer, r.Created.Format("2006-01-02 15:04:05Z"))
	s := r.Source
	src := []string{s.Cloud}
	for _, kv := range [][2]string{{"region", s.Region}, {"endpoint", s.Endpoint}, {"instance", s.Instance},
		{"image", s.Image}, {"path", s.Path}} {
		if kv[1] != "" {
			src = append(src, kv[0]+" "+kv[1])
		}
	}
	if len(s.Volumes) > 0 {
		src = append(src, "volumes "+strings.Join(s.Volumes, ","))
	}
	if len(s.Snapshots) > 0 {
		src = append(src, "snapshots "+strings.Join(s.Snapshots, ","))
	}
	fmt.Fprintf(&b, "source: %s\n", strings.Join(src, ", "))
	if r.Base != "" {
		fmt.Fprintf(&b, "base: %s\n", r.Base)
	}
	if r.Input != "" {
		fmt.Fprintf(&b, "input: %s (sha256 %s)\n", r.Input, r.InputSHA256)
	}
	for i, m := range append([]*BlockMap{r.WorkingCopy}, r.OtherDisks...) {
		if m == nil {
			continue
		}
		data := 0
		for _, h := range m.Blocks {
			if h != "" {
				data++
			}
		}
		fmt.Fprintf(&b, "disk %d: %s, %d bytes, %d blocks of %d KiB, %d with data\n", i, m.Path, m.Size, len(m.Blocks), m.BlockSize>>10, data)
	}
	if c := r.Clean; c != nil {
		fmt.Fprintf(&b, "clean: %d operations (%s), report sha256 %s\n", len(c.Operations), strings.Join(c.Operations, " "), c.ReportSHA256)
	}
	if bt := r.Boot; bt != nil {
		fmt.Fprintf(&b, "boot: firmware %s, bootloader %s, kernel %s, cmdline %q\n", bt.Firmware, bt.Bootloader, bt.Kernel, bt.Cmdline)
	}
	for _, o := range r.Outputs {
		if o.ID != "" {
			fmt.Fprintf(&b, "output: %s %s %s in %s (format %s, disk %d)\n", o.Cloud, o.Kind, o.ID, o.Region, o.Format, o.Disk)
			continue
		}
		fmt.Fprintf(&b, "output: %s (%s, %d bytes, disk %d) sha256 %s\n", o.Path, o.Format, o.Size, o.Disk, o.SHA256)
	}
	return b.String()
}
