package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
