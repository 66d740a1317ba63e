package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
)

// provenanceInfo is `info --provenance`: the record of arg (a record, or the image it sits
// beside), as a summary or JSON; verify checks each local output's size and SHA-256 and the
// block maps against the files they name, where those files still exist.
func provenanceInfo(ctx context.Context, arg string, asJSON, verify bool, stdout io.Writer) error {
	path := arg
	if !strings.HasSuffix(arg, provenance.Suffix) {
		path = provenance.SidecarPath(arg)
	}
	r, err := provenance.Read(path)
	if err != nil {
		return err
	}
	if asJSON {
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		fmt.Fprintf(stdout, "record: %s\n%s", path, r.Summary())
	}
	if !verify {
		return nil
	}
	var bad []string
	report := func(what string, err error) {
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", what, err))
			fmt.Fprintf(stdout, "verify %s: FAILED: %v\n", what, err)
			return
		}
		fmt.Fprintf(stdout, "verify %s: ok\n", what)
	}
	for _, o := range r.Outputs {
		if o.Path == "" || o.SHA256 == "" {
			continue
		}
		sum, size, err := provenance.FileSHA256(o.Path)
		if err == nil && (sum != o.SHA256 || size != o.Size) {
			err = fmt.Errorf("%d bytes, sha256 %s; the record says %d bytes, %s", size, sum, o.Size, o.SHA256)
		}
		report(o.Path, err)
	}
	for _, m := range append([]*provenance.BlockMap{r.WorkingCopy}, r.OtherDisks...) {
		if m == nil || m.Path == "" {
			continue
		}
		if _, err := os.Stat(m.Path); os.IsNotExist(err) {
			fmt.Fprintf(stdout, "verify %s: gone (not checked)\n", m.Path)
			continue
		}
		report(m.Path+" (block map)", m.Verify(ctx, m.Path, nil))
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d check(s) failed: %s", len(bad), strings.Join(bad, "; "))
	}
	return nil
}

// Producers the CLI names in the records it writes.
const (
	producerConvert = "chromogenic convert"
	producerClean   = "chromogenic clean"
	producerCapture = "chromogenic capture"
	producerPush    = "chromogenic push"
)

// writeConvertRecord adds OUT (its format, size and SHA-256) to rec, the record convert
// started from IN's, and writes it beside OUT, as chromogenic-convert writes its record
// beside the file it made. A nil rec (--provenance=false, OUT "-") writes nothing.
func writeConvertRecord(rec *provenance.Record, out, format string) error {
	if rec == nil {
		return nil
	}
	if fm, _ := diskimage.Lookup(format); fm != nil {
		format = fm.Name
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	o, err := provenance.FileOutput(abs, format, 0)
	if err != nil {
		return err
	}
	rec.Outputs = append(rec.Outputs, o)
	return rec.Write(provenance.SidecarPath(out))
}

// writeCaptureRecord completes rec, the record of a capture into OUTPUT (its source and the
// working copy's block map filled as the data came home), and writes it beside OUTPUT,
// returning its path: OUTPUT's format, size and SHA-256; a raw OUTPUT is the working copy
// itself (the map names it, stamped), a converted one was made from a working copy since
// removed (the map keeps no path: it describes OUTPUT's disk, read as raw).
func writeCaptureRecord(rec *provenance.Record, out, format string) (string, error) {
	abs, err := filepath.Abs(out)
	if err != nil {
		return "", err
	}
	if m := rec.WorkingCopy; m != nil {
		m.Path, m.Stamp = "", nil
		if format == "raw" {
			m.Path = abs
			if err := m.SetStamp(); err != nil {
				return "", err
			}
		}
	}
	o, err := provenance.FileOutput(abs, format, 0)
	if err != nil {
		return "", err
	}
	rec.Outputs = append(rec.Outputs, o)
	path := provenance.SidecarPath(abs)
	return path, rec.Write(path)
}

// writePushRecord completes rec, the record of a push of IMAGE (format, as read) started from
// IMAGE's own, with what was pushed (the cloud objects made; on AWS the block map of the disk
// written, which then replaces the input's: what the pushed snapshot holds, naming IMAGE when
// it is raw, or the working copy the input's record names when the two maps agree) and
// writes it at path.
func writePushRecord(rec, pushed *provenance.Record, image, format, path string) error {
	if m := pushed.WorkingCopy; m != nil {
		c := *m
		c.Path, c.Stamp = "", nil
		if format == "raw" {
			c.Path, _ = filepath.Abs(image)
		} else if in := rec.WorkingCopy; in != nil && in.Size == c.Size && slices.Equal(in.Blocks, c.Blocks) {
			c.Path = in.Path
		}
		rec.WorkingCopy = &c
	}
	rec.Outputs = append(rec.Outputs, pushed.Outputs...)
	return rec.Write(path)
}
