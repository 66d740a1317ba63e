package provenance

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Version is the record format written here; Read refuses others.
const Version = 1

// Suffix is added to an artifact's path to name its sidecar record.
const Suffix = ".provenance.json"

// maxRecord bounds what Read accepts (a 2 TiB disk's block map is about 280 MiB of JSON at
// most; records of sparse disks are far smaller).
const maxRecord = 512 << 20

// Record is one build's provenance.
type Record struct {
	Version  int       `json:"version"`
	Created  time.Time `json:"created"`
	Producer string    `json:"producer"` // the builder or post-processor type that wrote it
	// Base is the record this build started from (a changed-block recapture), if any.
	Base string `json:"base,omitempty"`
	// Input is the record of the artifact a post-processor started from, and its SHA-256.
	Input       string `json:"input,omitempty"`
	InputSHA256 string `json:"input_sha256,omitempty"`
	Source      Source `json:"source"`
	// WorkingCopy is the block map of the local working copy; nil when the build had none
	// (chromogenic-openstack in snapshot mode: the server is snapshotted into the result in
	// the cloud, no byte comes home) or the producer started from a file with no record.
	WorkingCopy *BlockMap `json:"working_copy,omitempty"`
	// Dirty lists the blocks of the working copy the build changed after the capture (a
	// mount, provisioners): there it differs from Source.Snapshots[0], and a changed-block
	// recapture reads those blocks again.
	Dirty []int64 `json:"dirty,omitempty"`
	// OtherDisks are the block maps of the other disks of a capture on several disks.
	OtherDisks []*BlockMap `json:"other_disks,omitempty"`
	// OtherDirty is Dirty for each of OtherDisks, in their order (set whenever OtherDisks
	// is, so that a record which does not know them is told apart from one with none).
	OtherDirty [][]int64 `json:"other_dirty,omitempty"`
	Clean      *Clean    `json:"clean,omitempty"`
	Boot       *Boot     `json:"boot,omitempty"`
	Outputs    []Output  `json:"outputs,omitempty"`
}

// Source is what the build captured.
type Source struct {
	Cloud    string `json:"cloud"` // aws, eucalyptus, openstack or local
	Region   string `json:"region,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`
	Instance string `json:"instance,omitempty"`
	Image    string `json:"image,omitempty"`
	// ImageName is the source image's name when the build started from an image (OpenStack:
	// images of one lineage, such as a nightly series, share it).
	ImageName string   `json:"image_name,omitempty"`
	Volumes   []string `json:"volumes,omitempty"`
	Snapshots []string `json:"snapshots,omitempty"` // the root disk's first
	// Devices are the device names of the disks Snapshots were taken of, in their order.
	Devices []string `json:"devices,omitempty"`
	Path    string   `json:"path,omitempty"` // a local source file
	// Paths are every local source file of a guest on several disks, Path first.
	Paths []string `json:"paths,omitempty"`
}

// Clean is what chromogenic-clean did: every operation run (each group resolved to its
// operations; one that found nothing to do still vouches that there was nothing) and the
// SHA-256 of its JSON report (the last run's when it ran several times; Runs has each).
type Clean struct {
	Operations   []string   `json:"operations"`
	ReportSHA256 string     `json:"report_sha256,omitempty"`
	Runs         []CleanRun `json:"runs,omitempty"`
}

// Boot is how a bootable export was made.
type Boot struct {
	Firmware   string `json:"firmware,omitempty"`
	Bootloader string `json:"bootloader,omitempty"`
	Kernel     string `json:"kernel,omitempty"`
	Cmdline    string `json:"cmdline,omitempty"`
}

// Output is one file or cloud object a build produced.
type Output struct {
	Path   string `json:"path,omitempty"`
	Format string `json:"format,omitempty"`
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	Disk   int    `json:"disk,omitempty"` // 0: the boot disk
	// Cloud, Region and ID name a pushed object (an AMI, a snapshot, a Glance image).
	Cloud  string `json:"cloud,omitempty"`
	Region string `json:"region,omitempty"`
	Kind   string `json:"kind,omitempty"` // image, snapshot, volume
	ID     string `json:"id,omitempty"`
	// Checksum is the cloud's own digest of a pushed object, "<algo>:<hex>" (Glance's
	// os_hash), when it gives one.
	Checksum string `json:"checksum,omitempty"`
}

// New starts a record for producer.
func New(producer string) *Record {
	return &Record{Version: Version, Created: time.Now().UTC().Truncate(time.Second), Producer: producer}
}

// SidecarPath is where the record of the artifact at path is written.
func SidecarPath(path string) string { return path + Suffix }

// Write stores the record at path atomically (a temporary file renamed over it).
func (r *Record) Write(path string) error {
	b, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".provenance-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write provenance %s: %w", path, err)
	}
	return nil
}

// Read loads and checks a record.
func Read(path string) (*Record, error) {
	b, err := readBounded(path)
	if err != nil {
		return nil, err
	}
	return parse(path, b)
}

// readBounded reads the record file at path, at most maxRecord bytes.
func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRecord+1))
	if err != nil {
		return nil, fmt.Errorf("provenance %s: %w", path, err)
	}
	if len(b) > maxRecord {
		return nil, fmt.Errorf("provenance %s: larger than %d MiB", path, maxRecord>>20)
	}
	return b, nil
}

// parse decodes and checks the record b read from path.
func parse(path string, b []byte) (*Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("provenance %s: %w", path, err)
	}
	if r.Version != Version {
		return nil, fmt.Errorf("provenance %s: version %d, this plugin reads version %d", path, r.Version, Version)
	}
	for _, b := range r.Dirty {
		if r.WorkingCopy == nil || b < 0 || b >= r.WorkingCopy.Count() {
			return nil, fmt.Errorf("provenance %s: dirty block %d outside the working copy", path, b)
		}
	}
	if r.OtherDirty != nil && len(r.OtherDirty) != len(r.OtherDisks) {
		return nil, fmt.Errorf("provenance %s: dirty blocks for %d other disks, %d other disks", path, len(r.OtherDirty), len(r.OtherDisks))
	}
	for i, dirty := range r.OtherDirty {
		for _, b := range dirty {
			if m := r.OtherDisks[i]; m == nil || b < 0 || b >= m.Count() {
				return nil, fmt.Errorf("provenance %s: dirty block %d outside disk %d", path, b, i+2)
			}
		}
	}
	for _, m := range append([]*BlockMap{r.WorkingCopy}, r.OtherDisks...) {
		if m == nil {
			continue
		}
		if err := m.check(); err != nil {
			return nil, fmt.Errorf("provenance %s: %w", path, err)
		}
	}
	return &r, nil
}
