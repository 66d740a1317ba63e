package provenance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// FromFile is From for a producer whose input is the local file src: with no input record
// the source is that file (cloud local, its absolute path).
func FromFile(producer string, in *Record, inPath, inSHA, src string) *Record {
	r := From(producer, in, inPath, inSHA)
	if in == nil {
		abs, err := filepath.Abs(src)
		if err != nil {
			abs = src
		}
		r.Source = Source{Cloud: "local", Path: abs}
	}
	return r
}

// Beside reads the record beside the local file path (SidecarPath) and checks that it
// describes the file as it is now (Describes); it returns the record, its path and the
// SHA-256 of its bytes, or nil, "", "" and no error when there is none. A record that does
// not describe the file is an error naming both: a producer deriving from it would carry
// a history the file does not have.
func Beside(ctx context.Context, path string) (r *Record, recPath, sum string, err error) {
	recPath = SidecarPath(path)
	if _, err := os.Lstat(recPath); errors.Is(err, os.ErrNotExist) {
		return nil, "", "", nil
	}
	b, err := readBounded(recPath)
	if err != nil {
		return nil, "", "", err
	}
	if r, err = parse(recPath, b); err != nil {
		return nil, "", "", err
	}
	if err := r.Describes(ctx, path); err != nil {
		return nil, "", "", fmt.Errorf("provenance %s does not describe %s as it is now: %w", recPath, path, err)
	}
	s := sha256.Sum256(b)
	if abs, err := filepath.Abs(recPath); err == nil {
		recPath = abs
	}
	return r, recPath, hex.EncodeToString(s[:]), nil
}

// Describes checks that the record names the file at path as it is now: as its working copy
// (the block map's stamp still matches the file, or every block read matches) or as one of
// its outputs (size and SHA-256 match). Files are matched by name: a record's paths are
// those of the build that wrote it (relative to where it ran, or since moved).
func (r *Record) Describes(ctx context.Context, path string) error {
	base := filepath.Base(path)
	m := r.WorkingCopy
	if m != nil && filepath.Base(m.Path) != base {
		m = nil
	}
	if m != nil && m.Unchanged(path) == nil {
		return nil
	}
	var errs []error
	hash := fileHash(path)
	for _, o := range r.Outputs {
		if o.Path == "" || o.SHA256 == "" || filepath.Base(o.Path) != base {
			continue
		}
		sum, size, err := hash()
		switch {
		case err != nil:
			return err
		case sum == o.SHA256 && size == o.Size:
			return nil
		}
		errs = append(errs, fmt.Errorf("output %s: the file is %d bytes, sha256 %s; the record says %d bytes, %s", o.Path, size, sum, o.Size, o.SHA256))
	}
	if m != nil {
		err := m.VerifyData(ctx, path)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("working copy: %w", err))
	}
	if len(errs) == 0 {
		return fmt.Errorf("it names no working copy or output file %s", base)
	}
	return errors.Join(errs...)
}

// Refresh brings the record up to date with the file at path, changed in place since the
// record described it (chromogenic clean --image): the working copy's block map when it is
// that file, with the blocks that changed added to Dirty (they differ from the capture too,
// and a changed-block recapture reads them again), and the size and SHA-256 of the outputs
// that are that file. It returns how many blocks changed.
func (r *Record) Refresh(ctx context.Context, path string) (int, error) {
	base := filepath.Base(path)
	changed := 0
	if old := r.WorkingCopy; old != nil && filepath.Base(old.Path) == base {
		m, err := Map(ctx, path)
		if err != nil {
			return 0, fmt.Errorf("provenance of %s: %w", path, err)
		}
		if m.BlockSize != old.BlockSize || m.Size != old.Size {
			return 0, fmt.Errorf("provenance of %s: it is %d bytes in %d-byte blocks, its record says %d in %d", path, m.Size, m.BlockSize, old.Size, old.BlockSize)
		}
		diff, err := m.Changed(old)
		if err != nil {
			return 0, err
		}
		changed = len(diff)
		r.Dirty = union(r.Dirty, diff)
		if abs, err := filepath.Abs(path); err == nil {
			m.Path = abs
		}
		r.WorkingCopy = m
	}
	hash := fileHash(path)
	for i, o := range r.Outputs {
		if o.Path == "" || o.SHA256 == "" || filepath.Base(o.Path) != base {
			continue
		}
		sum, size, err := hash()
		if err != nil {
			return 0, fmt.Errorf("provenance of %s: %w", path, err)
		}
		r.Outputs[i].SHA256, r.Outputs[i].Size = sum, size
	}
	return changed, nil
}

// union is the sorted union of two sorted block lists.
// fileHash returns FileSHA256 of path, read on the first call only: several outputs of a
// record may name the same file.
func fileHash(path string) func() (string, int64, error) {
	var (
		done bool
		sum  string
		size int64
		err  error
	)
	return func() (string, int64, error) {
		if !done {
			sum, size, err = FileSHA256(path)
			done = true
		}
		return sum, size, err
	}
}

func union(a, b []int64) []int64 {
	out := make([]int64, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i] < b[j]):
			out = append(out, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i, j = i+1, j+1
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
