package provenance

import (
	"errors"
	"fmt"
	"time"
)

// Stamp is what the kernel says of a file when its block map was made: any write through the
// filesystem since changes its ctime (which user space cannot set back), and a file replaced
// has another inode. A map whose stamp still matches its file is trusted without reading the
// file again; one that does not is checked block by block (VerifyData). What a stamp cannot
// see: writes to the device under the filesystem, or media corruption.
type Stamp struct {
	Device uint64 `json:"device"`
	Inode  uint64 `json:"inode"`
	Size   int64  `json:"size"`
	Mtime  int64  `json:"mtime_ns"`
	Ctime  int64  `json:"ctime_ns"`
}

// ctimeTick is longer than the coarse clock's tick (HZ 100 at the least): a file stamped at
// least this long after its ctime has a different ctime after any later write.
const ctimeTick = 20 * time.Millisecond

// SetStamp records the stamp of the map's file: call it when the map describes the file as it
// is now (just made, or the caller wrote every changed block and updated the map).
func (m *BlockMap) SetStamp() error {
	s, err := settledStamp(m.Path)
	if err != nil {
		return fmt.Errorf("stamp %s: %w", m.Path, err)
	}
	if s.Size != m.Size {
		return fmt.Errorf("stamp %s: the file is %d bytes, its map says %d", m.Path, s.Size, m.Size)
	}
	m.Stamp = &s
	return nil
}

// settledStamp stats path once its ctime is at least ctimeTick old, so that a write after
// this moment cannot keep the same ctime.
func settledStamp(path string) (Stamp, error) {
	s, err := statStamp(path)
	if err != nil {
		return s, err
	}
	if wait := time.Until(time.Unix(0, s.Ctime).Add(ctimeTick)); wait > 0 {
		time.Sleep(min(wait, ctimeTick))
		return statStamp(path)
	}
	return s, nil
}

// errNoStamp: the map has no stamp to trust.
var errNoStamp = errors.New("its block map has no stamp")

// Unchanged reports whether the file at path is the one the map was made of and has not been
// written since (its stamp matches); the error says why not.
func (m *BlockMap) Unchanged(path string) error {
	if m.Stamp == nil {
		return errNoStamp
	}
	s, err := statStamp(path)
	if err != nil {
		return err
	}
	switch {
	case s.Device != m.Stamp.Device || s.Inode != m.Stamp.Inode:
		return fmt.Errorf("%s is another file than the one its block map was made of", path)
	case s.Size != m.Stamp.Size || s.Mtime != m.Stamp.Mtime || s.Ctime != m.Stamp.Ctime:
		return fmt.Errorf("%s was written after its block map was made", path)
	}
	return nil
}
