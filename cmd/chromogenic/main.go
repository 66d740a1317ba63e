// Command chromogenic converts and inspects disk images with the plugin's image engine.
//
//	chromogenic convert IN OUT -O FORMAT [-f INFORMAT] [-o key=value,...] [--progress] [--provenance=false]
//	                    [--bootable [--firmware bios|efi|both] [--bootloader grub|extlinux] [--kernel F [--ramdisk F]]
//	                    [--extra-size SIZE] [--lvm flatten|keep] [--root-partition N | --root-volume VG/LV]
//	                    [--root-subvolume PATH] [--sandbox=false]]
//	chromogenic info IMAGE [-f FORMAT] [--json]
//	chromogenic info --provenance IMAGE|RECORD [--json] [--verify]
//	chromogenic clean (--root DIR | --image FILE) ...
//	chromogenic push --to openstack|aws|eucalyptus IMAGE [--name N] ...
//	chromogenic capture --from openstack|aws (--server|--image|--snapshot ID) OUTPUT ...
//
// push and capture call the cloud adapters (internal/cloud/openstack, internal/cloud/ec2)
// the Packer faces call: the same upload, publish and download code, without Packer.
// convert --bootable calls internal/bootable as chromogenic-convert's bootable block does.
// The command trusts its user (and the credentials the clouds' own clients would use); images
// and clouds' answers are checked by the engines and adapters as they are for the faces.
// docs/cli.md describes every command.
//
// convert, clean --image, capture and push write provenance records (internal/provenance) as
// the faces do: convert beside OUT, derived from the record beside IN; clean brings the record
// beside the image up to date; capture beside OUTPUT (the source, the working copy's block map,
// OUTPUT's SHA-256); push, which makes no local file, beside IMAGE (IMAGE.push-CLOUD.provenance.json)
// or at --record. convert, clean and push check first that the input's record still describes
// the input.
//
// An OVA (IN or IMAGE, detected or -f ova) is an appliance, not a disk: info lists its
// members and disks (name, format, virtual size) and verifies its manifest, convert reads
// its one disk in place.
//
// Output formats: those of the image engine's registry (diskimage.WriterFormats): raw,
// qcow2, vmdk, vhd (alias vpc), vdi and ova. OUT "-" writes to standard
// output (formats that need no seeking only: raw, uncompressed qcow2, vmdk
// streamOptimized, fixed vhd, fixed vdi).
//
// -o options (comma separated):
//
//	subformat=streamOptimized|monolithicSparse (vmdk), dynamic|fixed (vhd, vdi)
//	compression=none|zlib|zstd (qcow2), level=1..9, workers=N, cluster_size=BYTES (qcow2)
//	adapter_type=lsilogic|ide|buslogic|legacyESX|pvscsi (vmdk), azure=on (fixed vhd, 1 MiB)
//	ova: name=, cpus=, memory=MiB, firmware=bios|efi, controller=sata|scsi|ide|pvscsi,
//	     hash=sha256|sha1|sha512, os_release=PATH (the guest's os-release file),
//	     profile=generic|vsphere|virtualbox, hardware_version=N (vsphere: vmx-N, default 14)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/diskimage"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/ova"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/transfer"
)

const usage = `usage:
  chromogenic convert IN OUT -O FORMAT [-f INFORMAT] [-o key=value,...] [--progress]
                      [--provenance=false]
                      [--bootable [--firmware bios|efi|both] [--bootloader grub|extlinux]
                       [--kernel FILE [--ramdisk FILE]]
                       [--extra-size SIZE] [--lvm flatten|keep]
                       [--root-partition N | --root-volume VG/LV]
                       [--root-subvolume PATH] [--sandbox=false]]
  chromogenic info IMAGE [-f FORMAT] [--json]
  chromogenic info --provenance IMAGE|RECORD [--json] [--verify]
  chromogenic clean (--root DIR | --image FILE) [...]           (chromogenic clean --help)
  chromogenic push --to openstack|aws|eucalyptus IMAGE [...]    (chromogenic push --help)
  chromogenic capture --from openstack|aws ... OUTPUT [...]     (chromogenic capture --help)

output formats: %s
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(os.Stderr, "chromogenic: %v\n"+usage, err, strings.Join(diskimage.WriterFormats(), ", "))
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "chromogenic: %v\n", err)
		os.Exit(1)
	}
}

type usageError struct{ error }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{errors.New("no command")}
	}
	switch args[0] {
	case "convert":
		return convert(ctx, args[1:], stdout, stderr)
	case "clean":
		return cleanCmd(ctx, args[1:], stdout, stderr)
	case "info":
		return info(ctx, args[1:], stdout)
	case "push":
		return pushCmd(ctx, args[1:], stdout, stderr)
	case "capture":
		return captureCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintf(stdout, usage, strings.Join(diskimage.WriterFormats(), ", "))
		return nil
	}
	return usageError{fmt.Errorf("unknown command %q", args[0])}
}

// parseInterleaved parses flags that may come before, between or after the positional
// arguments, and returns the positionals.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError{err}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

type convertConfig struct {
	wo      diskimage.WriteOptions
	ova     ova.Options
	ovaOnly []string // OVA-only options given
}

// parseOpts parses -o key=value,... for the given output format.
func parseOpts(s, format string) (convertConfig, error) {
	var c convertConfig
	if s == "" {
		return c, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return c, usageError{fmt.Errorf("option %q is not key=value", kv)}
		}
		k = strings.ReplaceAll(strings.ToLower(k), "-", "_")
		num := func() (int, error) {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return 0, usageError{fmt.Errorf("option %s=%q: want a number", k, v)}
			}
			return n, nil
		}
		var err error
		switch k {
		case "name", "cpus", "memory", "firmware", "controller", "hash", "os_release", "profile", "hardware_version":
			c.ovaOnly = append(c.ovaOnly, k)
		}
		switch k {
		case "subformat":
			c.wo.Subformat = v
		case "compression", "compression_type":
			c.wo.Compression = v
		case "level":
			c.wo.Level, err = num()
			c.ova.Level = c.wo.Level
		case "workers":
			c.wo.Workers, err = num()
			c.ova.Workers = c.wo.Workers
		case "cluster_size":
			c.wo.ClusterSize, err = num()
		case "adapter_type":
			c.wo.AdapterType = v
		case "azure", "force_size":
			c.wo.AzureAlign = v == "on" || v == "true" || v == "1"
		case "name":
			c.ova.Name = v
		case "cpus":
			c.ova.CPUs, err = num()
		case "memory":
			c.ova.MemoryMiB, err = num()
		case "firmware":
			c.ova.Firmware = v
		case "controller":
			c.ova.Controller = v
		case "hash":
			c.ova.Hash = v
		case "profile":
			c.ova.Profile = v
		case "hardware_version":
			v = strings.TrimPrefix(strings.ToLower(v), "vmx-")
			c.ova.HardwareVersion, err = num()
		case "os_release":
			var osr ova.OSRelease
			if osr, err = ova.ReadOSRelease(v); err == nil {
				c.ova.OS = &osr
			}
		default:
			return c, usageError{fmt.Errorf("unknown option %q for %s", k, format)}
		}
		if err != nil {
			return c, err
		}
	}
	return c, nil
}

// progressPrinter prints a percentage line on w, rewriting it in place.
func progressPrinter(w io.Writer) diskimage.Progress {
	start := time.Now()
	last := -1
	return func(done, total int64) {
		pct := 100
		if total > 0 {
			pct = int(done * 100 / total)
		}
		if pct == last {
			return
		}
		last = pct
		fmt.Fprintf(w, "\r    (%3d/100%%) %s", pct, time.Since(start).Round(100*time.Millisecond))
		if pct >= 100 {
			fmt.Fprintln(w)
		}
	}
}

func convert(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	outFmt := fs.String("O", "", "output format")
	inFmt := fs.String("f", "", "input format (default: detect)")
	opts := fs.String("o", "", "output options key=value,...")
	progress := fs.Bool("progress", false, "show progress on stderr")
	fs.BoolVar(progress, "p", false, "show progress on stderr")
	withRecord := fs.Bool("provenance", true, "write OUT's provenance record")
	var boot bootableFlags
	boot.register(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if err := boot.check(fs); err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageError{errors.New("convert needs IN and OUT")}
	}
	if *outFmt == "" {
		return usageError{errors.New("convert needs -O FORMAT")}
	}
	format := strings.ToLower(*outFmt)
	cfg, err := parseOpts(*opts, format)
	if err != nil {
		return err
	}
	in, out := pos[0], pos[1]
	fm, _ := diskimage.Lookup(format)
	if len(cfg.ovaOnly) > 0 && (fm == nil || fm.Name != "ova") {
		return usageError{fmt.Errorf("option %s is for ova output, not %s", cfg.ovaOnly[0], format)}
	}
	if fm != nil && fm.Name == "ova" {
		if err := cfg.ova.Check(); err != nil {
			return usageError{err}
		}
	}
	// The record beside IN (a builder's working copy, an earlier conversion) is checked
	// against IN before anything is written, and carried over into OUT's.
	var rec *provenance.Record
	if *withRecord && out != "-" {
		inRec, inRecPath, inRecSHA, err := provenance.Beside(ctx, in)
		if err != nil {
			return fmt.Errorf("%w (--provenance=false converts without a record)", err)
		}
		rec = provenance.FromFile(producerConvert, inRec, inRecPath, inRecSHA, in)
	}
	srcFormat := *inFmt
	if boot.on {
		// The image made a stand-alone bootable disk first (chromogenic-convert's bootable
		// block), every output written from it; the OVA's firmware follows the bootloader.
		if f := cfg.ova.Firmware; f != "" && f != boot.ovaFirmware() {
			return usageError{fmt.Errorf("option firmware=%s does not match --firmware %s (leave it unset: it follows the bootloader)", f, boot.firmware)}
		}
		cfg.ova.Firmware = boot.ovaFirmware()
		dir := os.TempDir()
		if out != "-" {
			dir = filepath.Dir(out)
		}
		tmp, res, err := boot.make(ctx, in, *inFmt, dir, stderr)
		if err != nil {
			return err
		}
		defer os.Remove(tmp)
		if rec != nil {
			rec.Boot = res.Provenance()
		}
		in, srcFormat = tmp, "raw"
	}
	// A disk image, or the one disk of an appliance (an OVA) read in place.
	src, err := diskimage.OpenDisk(in, srcFormat)
	if err != nil {
		return err
	}
	defer src.Close()
	if *progress {
		cfg.wo.Progress = progressPrinter(stderr)
	}
	cfg.wo.FormatOptions = map[string]any{"ova": cfg.ova}
	if out == "-" {
		// The one stream-or-spool choice (internal/transfer); standard output cannot spool.
		return transfer.WriteStream(ctx, stdout, src, format, cfg.wo)
	}
	if err := diskimage.Convert(ctx, src, out, format, cfg.wo); err != nil {
		return err
	}
	return writeConvertRecord(rec, out, format)
}

// imageInfo is the output of `info`.
type imageInfo struct {
	Filename  string `json:"filename"`
	Format    string `json:"format"`
	Subformat string `json:"subformat,omitempty"`
	// ExtentFiles: a descriptor VMDK's extent files (file-size and allocated-bytes above
	// are the descriptor's own).
	ExtentFiles    []extentFileJSON     `json:"extent-files,omitempty"`
	VirtualSize    int64                `json:"virtual-size"`
	FileSize       int64                `json:"file-size"`
	AllocatedBytes int64                `json:"allocated-bytes"` // blocks the file occupies
	DataBytes      int64                `json:"data-bytes"`      // guest bytes in Data extents
	ZeroBytes      int64                `json:"zero-bytes"`
	Qcow2          *diskimage.Qcow2Info `json:"qcow2,omitempty"`
	Extents        []extentJSON         `json:"extents"`
	// ExtentsTruncated: the image has more than maxInfoExtents extents; the list stops
	// there (the byte counts cover the whole disk).
	ExtentsTruncated bool `json:"extents-truncated,omitempty"`
	dataExtents      int  // Data extents (merged) in the whole disk
	// An OVA: its members and disks; virtual-size is the sum of the disks'.
	Members  []string      `json:"members,omitempty"`
	Disks    []diskInfo    `json:"disks,omitempty"`
	Manifest *manifestInfo `json:"manifest,omitempty"`
}

// manifestInfo is an OVA's manifest and whether every member it lists matches its digest.
type manifestInfo struct {
	Name       string `json:"name"`
	Algorithms string `json:"algorithms"` // "SHA256", or "SHA1+SHA256" for a mixed one
	Files      int    `json:"files"`
	Verified   bool   `json:"verified"`
	Error      string `json:"error,omitempty"`
}

// diskInfo is one disk of an OVA.
type diskInfo struct {
	Name        string `json:"name"` // the archive member
	DiskID      string `json:"disk-id"`
	Format      string `json:"format"` // "" when the image engine does not read it
	Subformat   string `json:"subformat,omitempty"`
	VirtualSize int64  `json:"virtual-size"`
	FileSize    int64  `json:"file-size"` // bytes in the archive
	DataBytes   int64  `json:"data-bytes"`
	Error       string `json:"error,omitempty"` // why it could not be read
}

type extentJSON struct {
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
	Kind   string `json:"kind"`
}

// maxInfoExtents bounds the extents info lists.
const maxInfoExtents = 100_000

var kindNames = map[diskimage.ExtentKind]string{diskimage.Data: "data", diskimage.Zero: "zero", diskimage.Hole: "hole"}

func info(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("info", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	asJSON := fs.Bool("json", false, "JSON output")
	inFmt := fs.String("f", "", "format (default: detect)")
	prov := fs.Bool("provenance", false, "print the provenance record of IMAGE (or the record named)")
	verify := fs.Bool("verify", false, "with --provenance: check outputs and block maps against the files")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{errors.New("info needs one IMAGE")}
	}
	if *prov {
		return provenanceInfo(ctx, pos[0], *asJSON, *verify, stdout)
	}
	if *verify {
		return usageError{errors.New("--verify goes with --provenance")}
	}
	st, err := os.Stat(pos[0])
	if err != nil {
		return err
	}
	ii := imageInfo{Filename: pos[0], FileSize: st.Size(), AllocatedBytes: allocated(st), Extents: []extentJSON{}}
	img, err := diskimage.OpenFormat(pos[0], *inFmt)
	if ce := (*diskimage.ContainerError)(nil); errors.As(err, &ce) && ce.Format.Name == "ova" {
		if err := ovaInfo(ctx, &ii); err != nil {
			return err
		}
		return printInfo(stdout, &ii, *asJSON)
	}
	if err != nil {
		return err
	}
	defer img.Close()
	ii.Format, ii.VirtualSize = img.Format(), img.Size()
	ii.Subformat = subformat(img)
	ii.ExtentFiles = extentFiles(img)
	if v, ok := img.(interface{ Qcow2Info() diskimage.Qcow2Info }); ok {
		qi := v.Qcow2Info()
		ii.Qcow2 = &qi
	}
	// The exact map, walked (never built whole: a crafted image may claim billions of
	// extents); neighbours of the same kind merged, as readers may split extents at table
	// boundaries; at most maxInfoExtents listed.
	var last diskimage.Extent
	have := false
	add := func(e diskimage.Extent) {
		if e.Kind == diskimage.Data {
			ii.dataExtents++
		}
		if len(ii.Extents) >= maxInfoExtents {
			ii.ExtentsTruncated = true
			return
		}
		ii.Extents = append(ii.Extents, extentJSON{e.Offset, e.Length, kindNames[e.Kind]})
	}
	err = diskimage.WalkExtents(ctx, img, func(e diskimage.Extent) error {
		switch e.Kind {
		case diskimage.Data:
			ii.DataBytes += e.Length
		case diskimage.Zero:
			ii.ZeroBytes += e.Length
		}
		if have && last.Kind == e.Kind && last.Offset+last.Length == e.Offset {
			last.Length += e.Length
			return nil
		}
		if have {
			add(last)
		}
		last, have = e, true
		return nil
	})
	if err != nil {
		return err
	}
	if have {
		add(last)
	}
	return printInfo(stdout, &ii, *asJSON)
}

// extentFileJSON is one extent file of a descriptor VMDK.
type extentFileJSON struct {
	Name           string `json:"name"`
	FileSize       int64  `json:"file-size"`
	AllocatedBytes int64  `json:"allocated-bytes"`
}

// extentFiles lists the extent files of a descriptor VMDK (nil for other images).
func extentFiles(img diskimage.Image) []extentFileJSON {
	v, ok := img.(interface{ ExtentFiles() []string })
	if !ok {
		return nil
	}
	var out []extentFileJSON
	for _, p := range v.ExtentFiles() {
		e := extentFileJSON{Name: p}
		if st, err := os.Stat(p); err == nil {
			e.FileSize, e.AllocatedBytes = st.Size(), allocated(st)
		}
		out = append(out, e)
	}
	return out
}

func subformat(img diskimage.Image) string {
	switch v := img.(type) {
	case interface{ CreateType() string }:
		return v.CreateType()
	case interface{ VHDSubformat() string }:
		return v.VHDSubformat()
	case interface{ VHDXSubformat() string }:
		return v.VHDXSubformat()
	case interface{ VDISubformat() string }:
		return v.VDISubformat()
	}
	return ""
}

// ovaInfo fills ii for an OVA: its members and each disk it declares, read in place.
func ovaInfo(ctx context.Context, ii *imageInfo) error {
	a, err := ova.Open(ii.Filename)
	if err != nil {
		return err
	}
	defer a.Close()
	ii.Format = "ova"
	for _, m := range a.Members {
		ii.Members = append(ii.Members, m.Name)
	}
	if a.Manifest != "" {
		mi := &manifestInfo{Name: a.Manifest, Files: len(a.Digests)}
		var algs []string
		for _, d := range a.Digests {
			if alg := strings.ToUpper(d.Algorithm); !slices.Contains(algs, alg) {
				algs = append(algs, alg)
			}
		}
		mi.Algorithms = strings.Join(algs, "+")
		if err := a.Verify(ctx); err != nil {
			mi.Error = err.Error()
		} else {
			mi.Verified = true
		}
		ii.Manifest = mi
	}
	for _, d := range a.Disks {
		di := diskInfo{Name: d.File, DiskID: d.ID, Format: d.Format, VirtualSize: d.Capacity, FileSize: d.Size}
		img, err := a.OpenDisk(d)
		if err == nil {
			di.VirtualSize, di.Subformat = img.Size(), subformat(img)
			err = diskimage.WalkExtents(ctx, img, func(e diskimage.Extent) error {
				if e.Kind == diskimage.Data {
					di.DataBytes += e.Length
				}
				return nil
			})
			img.Close()
		}
		if err != nil {
			di.Error = err.Error()
		}
		ii.VirtualSize += di.VirtualSize
		ii.DataBytes += di.DataBytes
		ii.Disks = append(ii.Disks, di)
	}
	return nil
}

func printInfo(stdout io.Writer, ii *imageInfo, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(ii)
	}
	fmt.Fprintf(stdout, "image: %s\nfile format: %s\n", ii.Filename, ii.Format)
	if ii.Subformat != "" {
		fmt.Fprintf(stdout, "subformat: %s\n", ii.Subformat)
	}
	fmt.Fprintf(stdout, "virtual size: %s (%d bytes)\n", human(ii.VirtualSize), ii.VirtualSize)
	fmt.Fprintf(stdout, "file size: %s (%d bytes)\n", human(ii.FileSize), ii.FileSize)
	fmt.Fprintf(stdout, "allocated: %s (%d bytes)\n", human(ii.AllocatedBytes), ii.AllocatedBytes)
	if len(ii.ExtentFiles) > 0 {
		fmt.Fprintf(stdout, "extent files: %d\n", len(ii.ExtentFiles))
		for _, e := range ii.ExtentFiles {
			fmt.Fprintf(stdout, "  %s: %s (%d bytes), allocated %s\n", e.Name, human(e.FileSize), e.FileSize, human(e.AllocatedBytes))
		}
	}
	if ii.Format == "ova" {
		fmt.Fprintf(stdout, "members: %s\n", strings.Join(ii.Members, ", "))
		if m := ii.Manifest; m != nil && m.Verified {
			fmt.Fprintf(stdout, "manifest: %s (%s, %d files): verified\n", m.Name, m.Algorithms, m.Files)
		} else if m != nil {
			fmt.Fprintf(stdout, "manifest: %s (%s, %d files): error: %s\n", m.Name, m.Algorithms, m.Files, m.Error)
		}
		fmt.Fprintf(stdout, "disks: %d\n", len(ii.Disks))
		for _, d := range ii.Disks {
			f := d.Format
			if f == "" {
				f = "unreadable"
			}
			if d.Subformat != "" {
				f += " (" + d.Subformat + ")"
			}
			fmt.Fprintf(stdout, "  %s: disk %s, format %s, virtual size %s (%d bytes), %s in the archive, data %s\n",
				d.Name, d.DiskID, f, human(d.VirtualSize), d.VirtualSize, human(d.FileSize), human(d.DataBytes))
			if d.Error != "" {
				fmt.Fprintf(stdout, "    error: %s\n", d.Error)
			}
		}
		return nil
	}
	fmt.Fprintf(stdout, "data: %s (%d bytes) in %d extents\n", human(ii.DataBytes), ii.DataBytes, ii.dataExtents)
	if ii.Qcow2 != nil {
		fmt.Fprintf(stdout, "qcow2: version %d, cluster size %d, compression %s, extended L2 %v\n",
			ii.Qcow2.Version, ii.Qcow2.ClusterSize, ii.Qcow2.CompressionType, ii.Qcow2.ExtendedL2)
	}
	fmt.Fprintf(stdout, "%-20s %-20s %s\n", "offset", "length", "kind")
	for _, e := range ii.Extents {
		fmt.Fprintf(stdout, "%#-20x %#-20x %s\n", e.Offset, e.Length, e.Kind)
	}
	if ii.ExtentsTruncated {
		fmt.Fprintf(stdout, "(only the first %d extents are listed)\n", maxInfoExtents)
	}
	return nil
}

func allocated(st os.FileInfo) int64 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Blocks * 512
	}
	return st.Size()
}

func human(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.3g %s", f, units[i])
}
