package diskimage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// Extent maps of a hostile image must not cost memory in proportion to the size its header
// claims. Every reader of this package walks its tables (walkExtents: one callback per
// extent, in ascending order, no slice), and Extents collects that walk into a slice of at
// most maxExtents entries: past that, the map is coarsened (see extentCollector), never
// refused, so an honest but fragmented image still converts. Tables that several directory
// entries share are refused when the image is opened, and a walk that finds more data
// mapped than the file can hold is refused (clusters or grains shared by many guest
// ranges: an image that reads back gigabytes from a few kilobytes).

// MaxVirtualSize is the largest virtual size accepted from an image header (qcow2, VMDK,
// VHD): 64 TiB. That is the largest volume of any cloud this plugin publishes to (EBS,
// Cinder back ends) and four times what ext4, where working copies live, can hold as one
// file; a header claiming more is refused with ErrTooLarge before any memory or time is
// spent on it. A raw file's size is the file's own and is not capped.
var MaxVirtualSize int64 = 64 << 40

// ErrTooLarge is returned for images whose header claims a virtual size above
// MaxVirtualSize.
var ErrTooLarge = fmt.Errorf("%w: virtual size too large", ErrUnsupported)

// maxExtents bounds the entries of the slice Extents returns (24 bytes each: 6 MiB).
var maxExtents = 1 << 18

// checkVirtualSize refuses a claimed virtual size above MaxVirtualSize.
func checkVirtualSize(format string, size uint64) error {
	if size > uint64(MaxVirtualSize) {
		return fmt.Errorf("%w: %s header claims %d bytes (%.1f TiB), more than the %d TiB this reads", ErrTooLarge,
			format, size, float64(size)/(1<<40), MaxVirtualSize>>40)
	}
	return nil
}

// extentWalker is implemented by every Image of this package: walkExtents calls fn for each
// extent of the whole disk, in ascending order, covering [0, Size()) exactly, and stops
// with fn's error if fn returns one.
type extentWalker interface {
	walkExtents(ctx context.Context, fn func(Extent) error) error
}

// errStopWalk ends a walk early without an error.
var errStopWalk = errors.New("stop walk")

// WalkExtents calls fn for each extent of img in ascending order, exactly (no coarsening),
// without building the map: its memory does not depend on the image's size. Extents may be
// split where adjacent ones have the same kind. It stops with fn's error.
func WalkExtents(ctx context.Context, img Image, fn func(Extent) error) error {
	if w, ok := img.(extentWalker); ok {
		err := w.walkExtents(ctx, fn)
		if errors.Is(err, errStopWalk) {
			return nil
		}
		return err
	}
	exts, err := img.Extents(ctx)
	if err != nil {
		return err
	}
	for _, e := range exts {
		if err := fn(e); err != nil {
			if errors.Is(err, errStopWalk) {
				return nil
			}
			return err
		}
	}
	return nil
}

// collectExtents is Extents of a walker: the walk collected by an extentCollector.
func collectExtents(ctx context.Context, w extentWalker) ([]Extent, error) {
	c := extentCollector{max: maxExtents}
	if err := w.walkExtents(ctx, func(e Extent) error { c.add(e); return nil }); err != nil {
		return nil, err
	}
	return c.finish(), nil
}

// extentCollector builds an extent map of at most max entries (about). While the map is
// small it is exact (adjacent extents of the same kind merged). When it grows past max, it
// is coarsened to a granularity g (4 KiB, then doubled as often as needed): every g-aligned
// block that is not wholly one kind becomes one extent of the "strongest" kind in it (Data
// over Zero over Hole). That is always correct, since reading a hole or a zero range as
// data yields zeros, and the writers skip all-zero blocks; it only costs reads.
type extentCollector struct {
	out  []Extent
	g    int64  // granularity; 0 while exact
	pend Extent // the partial block being merged (Length 0: none); starts at a multiple of g
	max  int
	busy bool // coarsening: no re-entry
}

func strongest(a, b ExtentKind) ExtentKind { return min(a, b) } // Data < Zero < Hole

func (c *extentCollector) add(e Extent) {
	if e.Length <= 0 {
		return
	}
	if c.g == 0 {
		c.push(e)
		return
	}
	off, end := e.Offset, e.Offset+e.Length
	for off < end {
		bs := off &^ (c.g - 1)
		if off == bs && end-off >= c.g {
			c.flush()
			n := (end - off) &^ (c.g - 1)
			c.push(Extent{Offset: off, Length: n, Kind: e.Kind})
			off += n
			continue
		}
		z := min(end, bs+c.g)
		if c.pend.Length > 0 && c.pend.Offset != bs {
			c.flush()
		}
		if c.pend.Length == 0 {
			c.pend = Extent{Offset: bs, Length: z - bs, Kind: e.Kind}
		} else {
			c.pend.Length = z - bs
			c.pend.Kind = strongest(c.pend.Kind, e.Kind)
		}
		if z == bs+c.g {
			c.flush()
		}
		off = z
	}
}

func (c *extentCollector) push(e Extent) {
	c.out = appendExtent(c.out, e)
	if len(c.out) > c.max && !c.busy {
		c.coarsen()
	}
}

func (c *extentCollector) flush() {
	if c.pend.Length > 0 {
		p := c.pend
		c.pend = Extent{}
		c.push(p)
	}
}

// coarsen doubles the granularity until the map holds at most half of max entries.
func (c *extentCollector) coarsen() {
	c.busy = true
	defer func() { c.busy = false }()
	for len(c.out) > c.max/2 {
		old, pend := c.out, c.pend
		c.out, c.pend = make([]Extent, 0, len(old)/2+1), Extent{}
		if c.g == 0 {
			c.g = 4096
		} else {
			c.g *= 2
		}
		for _, e := range old {
			c.add(e)
		}
		c.add(pend)
	}
}

func (c *extentCollector) finish() []Extent {
	c.flush()
	return c.out
}

// sharedTable returns the first offset that appears twice among the non-zero offs (and the
// two indexes holding it), or ok false. It sorts a copy: memory in proportion to the
// directory, which the file itself holds.
func sharedTable(offs []uint64) (off uint64, i, j int, ok bool) {
	type ent struct {
		off uint64
		i   int
	}
	var s []ent
	for i, o := range offs {
		if o != 0 {
			s = append(s, ent{o, i})
		}
	}
	slices.SortFunc(s, func(a, b ent) int {
		switch {
		case a.off < b.off:
			return -1
		case a.off > b.off:
			return 1
		}
		return a.i - b.i
	})
	for k := 1; k < len(s); k++ {
		if s[k].off == s[k-1].off {
			return s[k].off, s[k-1].i, s[k].i, true
		}
	}
	return 0, 0, 0, false
}

// nameOf names the file behind ra in errors, or "" when it is not a local file.
func nameOf(ra io.ReaderAt) string {
	if f, ok := ra.(*os.File); ok {
		return f.Name() + ": "
	}
	return ""
}
