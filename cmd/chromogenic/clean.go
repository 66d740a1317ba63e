package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/clean"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/hostfile"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/retarget"
)

const cleanUsage = `usage: chromogenic clean (--root DIR | --image FILE) [--ops LIST] [--target kvm|aws]
                         [--sandbox=false] [--dry-run] [--json] [--report FILE]
                         [--provenance=false] [--list]

Cleans a guest (the cleaning engine of the chromogenic-clean provisioner) and, with --target,
converts it for another hypervisor or cloud.

  --root DIR     a guest tree already mounted on DIR (for --target with --sandbox=false and
                 a real run, proc, sys and dev must be mounted in it)
  --image FILE   a raw disk image: attached to loop devices, its root filesystem (and /boot)
                 mounted, cleaned, converted, trimmed (so the file stays sparse) and released
  --ops LIST     operations, comma separated: groups (defaults, chromogenic, all), names,
                 +name, -name; "none" runs no cleaning op (conversion only). Default: defaults
  --target T     convert for T after cleaning (kvm: Xen guests become KVM guests; aws)
  --sandbox=false  run the guest's own tools (--target: initramfs, grub) with plain chroot
                 and the host's /proc, /sys and /dev instead of the bubblewrap sandbox:
                 trusts the guest
  --dry-run      list what would change; nothing is changed, nothing runs in the guest
  --json         print the report(s) as JSON instead of the summary
  --report FILE  also write the cleaning report (JSON) to FILE, and the conversion's to
                 FILE without .json plus -convert.json (as the chromogenic-clean provisioner)
  --provenance=false  with --image: leave FILE's provenance record alone. By default the
                 record beside FILE (FILE.provenance.json) is checked against FILE first and
                 brought up to date after the run: the block map, the blocks changed (dirty),
                 the operations run and their reports' SHA-256; FILE without one gets a new
                 record (producer "chromogenic clean")
  --list         list the operations and exit
`

// cleanResult is the --json output.
type cleanResult struct {
	Clean        *clean.Report `json:"clean,omitempty"`
	Convert      *clean.Report `json:"convert,omitempty"`
	TrimmedBytes uint64        `json:"trimmed_bytes,omitempty"`
}

func cleanCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("clean", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	root := fs.String("root", "", "")
	image := fs.String("image", "", "")
	var ops []string
	fs.Func("ops", "", func(s string) error { ops = append(ops, s); return nil })
	target := fs.String("target", "", "")
	dry := fs.Bool("dry-run", false, "")
	sandboxed := fs.Bool("sandbox", true, "")
	asJSON := fs.Bool("json", false, "")
	report := fs.String("report", "", "")
	withRecord := fs.Bool("provenance", true, "")
	list := fs.Bool("list", false, "")
	help := fs.Bool("help", false, "")
	fs.BoolVar(help, "h", false, "")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	switch {
	case *help:
		fmt.Fprint(stdout, cleanUsage)
		return nil
	case *list:
		return listOps(stdout, *asJSON)
	case len(pos) > 0:
		return usageError{fmt.Errorf("unexpected argument %q", pos[0])}
	case (*root == "") == (*image == ""):
		return usageError{errors.New("give exactly one of --root DIR and --image FILE")}
	case *target != "" && !retarget.ValidTarget(*target):
		return usageError{fmt.Errorf("unknown --target %q (known: %s)", *target, strings.Join(retarget.Targets(), ", "))}
	}
	noClean := len(ops) == 1 && ops[0] == "none"
	opts := clean.Options{Operations: ops, DryRun: *dry, TrustGuest: !*sandboxed}
	if noClean {
		opts.Operations = nil
		if *target == "" {
			return usageError{errors.New("--ops none without --target does nothing")}
		}
	}
	if err := opts.Validate(); err != nil {
		return usageError{err}
	}
	if !*asJSON {
		opts.Logf = func(f string, a ...any) { fmt.Fprintf(stderr, f+"\n", a...) }
	}
	job := &cleanJob{opts: opts, noClean: noClean, target: *target, report: *report}

	if *root != "" {
		r, err := guestfs.OpenRoot(*root)
		if err != nil {
			return err
		}
		defer r.Close()
		err = job.run(ctx, r, nil)
		return job.print(stdout, *asJSON, err)
	}
	// The record beside the image is checked before the image changes: one that does not
	// describe it would be updated into a lie.
	var rec *provenance.Record
	record := *withRecord && !*dry
	if record {
		if rec, _, _, err = provenance.Beside(ctx, *image); err != nil {
			return fmt.Errorf("%w (--provenance=false cleans without updating it)", err)
		}
	}
	err = job.image(ctx, *image, stderr)
	if record && (job.res.Clean != nil || job.res.Convert != nil) {
		err = errors.Join(err, job.record(ctx, *image, rec, err == nil, stderr))
	}
	return job.print(stdout, *asJSON, err)
}

// cleanJob is one clean (and convert) of a guest.
type cleanJob struct {
	opts    clean.Options
	noClean bool
	target  string
	report  string // --report
	res     cleanResult
	runs    []provenance.CleanRun // for the provenance record
}

func (j *cleanJob) run(ctx context.Context, r *guestfs.Root, devices map[string]string) error {
	var errs []error
	if !j.noClean {
		rep, err := clean.Run(ctx, r, j.opts)
		j.res.Clean = rep
		if rep == nil {
			return err
		}
		errs = append(errs, err, j.noteRun(rep, rep.Operations, j.report, err))
	}
	if j.target != "" {
		rep, err := retarget.Run(ctx, r, retarget.Options{Target: j.target, DryRun: j.opts.DryRun, Devices: devices, TrustGuest: j.opts.TrustGuest, Logf: j.opts.Logf})
		j.res.Convert = rep
		if rep != nil {
			errs = append(errs, j.noteRun(rep, []string{"target:" + j.target}, convertReport(j.report), err))
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// convertReport is where the conversion's report goes beside the cleaning's report file, as
// the chromogenic-clean provisioner names it; "" for none.
func convertReport(report string) string {
	if report == "" {
		return ""
	}
	return strings.TrimSuffix(report, ".json") + "-convert.json"
}

// noteRun writes rep to file (--report; none for "") and, for a run that succeeded, notes its
// operations and the SHA-256 of its JSON for the provenance record.
func (j *cleanJob) noteRun(rep *clean.Report, ops []string, file string, runErr error) error {
	js, err := rep.JSON()
	if err != nil {
		return err
	}
	if file != "" {
		if err := hostfile.WriteFile(file, js, hostfile.DefaultFileMode); err != nil {
			return fmt.Errorf("--report: %w", err)
		}
		if abs, err := filepath.Abs(file); err == nil {
			file = abs
		}
	}
	if runErr == nil && !j.opts.DryRun {
		sum := sha256.Sum256(js)
		j.runs = append(j.runs, provenance.CleanRun{Operations: ops, ReportSHA256: hex.EncodeToString(sum[:]), Report: file})
	}
	return nil
}

// record brings the provenance record beside image up to date after the run, as a build
// folds chromogenic-clean's note into its record: rec (the record that described the image
// before, nil for none) gets the image's block map as it is now (the blocks changed are
// added to its dirty list) and, when the run succeeded, its operations and report digests;
// with no record a new one is made. A run that failed on an image without a record writes
// none (what it changed is not known).
func (j *cleanJob) record(ctx context.Context, image string, rec *provenance.Record, ok bool, stderr io.Writer) error {
	path := provenance.SidecarPath(image)
	var msg string
	switch {
	case rec != nil:
		n, err := rec.Refresh(ctx, image)
		if err != nil {
			return err
		}
		msg = fmt.Sprintf("updated (%d blocks changed)", n)
	case !ok:
		return nil
	default:
		rec = provenance.FromFile(producerClean, nil, "", "", image)
		m, err := provenance.Map(ctx, rec.Source.Path)
		if err != nil {
			return fmt.Errorf("provenance of %s: %w", image, err)
		}
		rec.WorkingCopy = m
		msg = "written"
	}
	if ok {
		rec.AddCleanRuns(j.runs...)
	}
	if err := rec.Write(path); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "chromogenic clean: provenance record %s %s\n", path, msg)
	return nil
}

// image attaches, mounts, cleans, converts, trims and releases a raw disk image.
func (j *cleanJob) image(ctx context.Context, image string, stderr io.Writer) (err error) {
	dry := j.opts.DryRun
	opts := chroot.ImageOptions{
		ReadOnly:    dry,
		Exclusive:   true,
		TempPattern: "chromogenic-clean-",
		Guest:       chroot.GuestOptions{FstabMounts: chroot.DefaultFstabMounts},
	}
	if j.target != "" && !dry && j.opts.TrustGuest {
		opts.ChrootMounts = chroot.DefaultChrootMounts
	}
	img, err := chroot.OpenImage(image, opts)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, img.Close()) }()
	g := img.Guest
	for _, s := range g.Skipped {
		fmt.Fprintf(stderr, "chromogenic clean: not mounted: %s\n", s)
	}
	uuids := map[int]string{}
	for _, p := range img.Disk.Partitions {
		uuids[p.Number] = p.UUID
	}
	// The image is the guest's first disk: its partitions by number, then what the guest's
	// fstab mounts where (more precise when both know a name).
	devices := retarget.DeviceSpecs(uuids)
	for k, v := range retarget.MountedDeviceSpecs(ctx, g.Guest()) {
		devices[k] = v
	}
	runErr := j.run(ctx, g.Guest(), devices)
	if !dry && (j.res.Clean != nil || j.res.Convert != nil) {
		if j.target != "" {
			img.KillProcesses()
		}
		n, err := img.Trim(nil)
		j.res.TrimmedBytes += n
		runErr = errors.Join(runErr, err)
	}
	return runErr
}

// print writes the reports (also after an error, when there are any) and passes err on.
func (j *cleanJob) print(w io.Writer, asJSON bool, err error) error {
	if j.res.Clean == nil && j.res.Convert == nil {
		return err
	}
	if asJSON {
		b, jerr := json.MarshalIndent(j.res, "", "  ")
		if jerr != nil {
			return errors.Join(err, jerr)
		}
		fmt.Fprintf(w, "%s\n", b)
		return err
	}
	for _, r := range []*clean.Report{j.res.Clean, j.res.Convert} {
		if r != nil {
			fmt.Fprint(w, r.Summary())
		}
	}
	if j.res.TrimmedBytes > 0 {
		fmt.Fprintf(w, "trimmed %d MiB of free space\n", j.res.TrimmedBytes>>20)
	}
	return err
}

func listOps(w io.Writer, asJSON bool) error {
	ops := clean.Operations()
	if asJSON {
		b, err := json.MarshalIndent(ops, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s\n", b)
		return nil
	}
	for _, o := range ops {
		def := " "
		if o.Default {
			def = "*"
		}
		fmt.Fprintf(w, "%s %-24s %s\n", def, o.Name, o.Description)
	}
	fmt.Fprintln(w, "(* default)")
	return nil
}
