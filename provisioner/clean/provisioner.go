//go:build linux

// Package clean is the chromogenic-clean provisioner: it cleans the guest tree that a
// chromogenic builder has mounted (Atmosphere data, user accounts and homes, one-time files,
// logs emptied in place...) with the in-house cleaning engine, resolving every path inside the
// guest root, and reports each file it removed, emptied or edited. Without a mounted tree (live
// mode) it uploads the plugin's own binary through the build's communicator and runs the same
// engine on the running guest (GuestCommand), with the live-system rules of the engine.
package clean

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2/hcldec"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
	engine "github.com/chromogenic/packer-plugin-chromogenic/internal/clean"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/hostfile"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/retarget"
)

// Provisioner is chromogenic-clean.
type Provisioner struct {
	config Config
}

func (p *Provisioner) ConfigSpec() hcldec.ObjectSpec { return p.config.FlatMapstructure().HCL2Spec() }

func (p *Provisioner) Prepare(raws ...interface{}) error { return p.config.Prepare(raws...) }

func (p *Provisioner) Provision(ctx context.Context, ui packersdk.Ui, comm packersdk.Communicator, generated map[string]interface{}) error {
	root := p.config.Root
	if root == "" && p.config.Mode != ModeLive {
		if mp, ok := generated["MountPath"].(string); ok && mp != "" && !strings.HasPrefix(mp, "ERR_") {
			root = mp
		}
	}
	if p.config.Mode == ModeLive || (p.config.Mode == "" && root == "") {
		return p.provisionLive(ctx, ui, comm, generated)
	}
	if root == "" {
		return errors.New("mode: \"mounted\" needs the guest tree a chromogenic builder mounts (build variable MountPath) or `root`; " +
			"this build provides neither (mode = \"live\" cleans the running system through the communicator)")
	}
	// A guest filesystem mounted on its own cannot hold hard links to host files (links never
	// cross filesystems), so hard-linked guest files may be edited there. A root that is a
	// plain host directory (or a bind of one) can: its hard-linked files are left alone.
	own, err := chroot.OwnFilesystemMount(root)
	if err != nil {
		return fmt.Errorf("root %s: %w", root, err)
	}
	r, err := guestfs.OpenRootWithOptions(root, guestfs.Options{AllowHardlinkWrites: own})
	if err != nil {
		return fmt.Errorf("open guest tree %s: %w", root, err)
	}
	defer r.Close()

	opts := p.config.options()
	opts.Logf = func(format string, args ...any) { ui.Message(fmt.Sprintf(format, args...)) }
	what := "Cleaning"
	if opts.DryRun {
		what = "Dry run: listing what cleaning"
	}
	ui.Say(fmt.Sprintf("%s %s (%s)...", what, root, strings.Join(p.config.Operations, ", ")))
	rep, runErr := engine.Run(ctx, r, *opts)
	if rep == nil {
		return runErr
	}
	for _, line := range strings.Split(strings.TrimRight(rep.Summary(), "\n"), "\n") {
		ui.Message(line)
	}
	js, err := rep.JSON()
	if err == nil {
		if err := hostfile.WriteFile(p.config.ReportFile, js, hostfile.DefaultFileMode); err != nil {
			ui.Error(fmt.Sprintf("report_file: %s", err))
		} else {
			ui.Say(fmt.Sprintf("Cleaning report written to %s", p.config.ReportFile))
		}
	}
	if runErr != nil {
		return runErr
	}
	note := cleanNote(generated, root, opts.DryRun)
	if err := writeNote(note, rep.Operations, js, p.config.ReportFile); err != nil {
		return err
	}
	if p.config.Target == "" {
		return nil
	}
	return p.convert(ctx, ui, r, note)
}

// cleanNote is where the run is noted for the builder's provenance record: the clean note
// beside the working copy of the chromogenic builder whose mounted tree root is
// (provenance.CleanNotePath of the WorkingImage build variable); "" for a dry run or a tree
// that is not a chromogenic builder's mount.
func cleanNote(generated map[string]interface{}, root string, dryRun bool) string {
	wi, _ := generated["WorkingImage"].(string)
	mp, _ := generated["MountPath"].(string)
	if dryRun || wi == "" || strings.HasPrefix(wi, "ERR_") || mp == "" || filepath.Clean(mp) != filepath.Clean(root) {
		return ""
	}
	return provenance.CleanNotePath(wi)
}

// writeNote adds a run (its operations and the SHA-256 of its report js) to the note.
func writeNote(note string, ops []string, js []byte, report string) error {
	if note == "" || js == nil {
		return nil
	}
	sum := sha256.Sum256(js)
	if abs, err := filepath.Abs(report); err == nil {
		report = abs
	}
	if err := provenance.AppendCleanNote(note, provenance.CleanRun{Operations: ops,
		ReportSHA256: hex.EncodeToString(sum[:]), Report: report}); err != nil {
		return fmt.Errorf("provenance: %w", err)
	}
	return nil
}

// convert runs the target conversion and writes its report next to the cleaning report.
func (p *Provisioner) convert(ctx context.Context, ui packersdk.Ui, r *guestfs.Root, note string) error {
	ui.Say(fmt.Sprintf("Converting %s for %s...", r.Dir(), p.config.Target))
	rep, err := retarget.Run(ctx, r, retarget.Options{
		Target:     p.config.Target,
		DryRun:     p.config.DryRun,
		TrustGuest: p.config.Sandbox != nil && !*p.config.Sandbox,
		Logf:       func(format string, args ...any) { ui.Message(fmt.Sprintf(format, args...)) },
	})
	if rep == nil {
		return err
	}
	for _, line := range strings.Split(strings.TrimRight(rep.Summary(), "\n"), "\n") {
		ui.Message(line)
	}
	js, jerr := rep.JSON()
	file := strings.TrimSuffix(p.config.ReportFile, ".json") + "-convert.json"
	if jerr == nil {
		if werr := hostfile.WriteFile(file, js, hostfile.DefaultFileMode); werr != nil {
			ui.Error(fmt.Sprintf("conversion report: %s", werr))
		} else {
			ui.Say(fmt.Sprintf("Conversion report written to %s", file))
		}
	}
	if err != nil {
		return err
	}
	return writeNote(note, []string{"target:" + p.config.Target}, js, file)
}
