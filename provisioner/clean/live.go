//go:build linux

package clean

import (
	"bytes"
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"runtime"
	"strings"
	"time"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	engine "github.com/chromogenic/packer-plugin-chromogenic/internal/clean"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/hostfile"
)

// Modes of the provisioner (Config.Mode).
const (
	ModeMounted = "mounted"
	ModeLive    = "live"
)

// executeData are the variables of execute_command.
type executeData struct {
	Command    string // the whole engine command line, quoted
	Path       string // the uploaded executable
	ConfigPath string // its configuration
}

func renderExecute(tpl string, d executeData, ctx *interpolate.Context) (string, error) {
	c := *ctx
	c.Data = d
	return interpolate.Render(tpl, &c)
}

// unameArch is `uname -m` for each GOARCH the plugin may be built for.
var unameArch = map[string][]string{
	"amd64":   {"x86_64"},
	"arm64":   {"aarch64", "arm64"},
	"386":     {"i386", "i486", "i586", "i686"},
	"ppc64le": {"ppc64le"},
	"s390x":   {"s390x"},
	"riscv64": {"riscv64"},
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// remote runs command on the guest and returns its stdout, stderr and exit status.
func remote(ctx context.Context, comm packersdk.Communicator, command string) (string, string, int, error) {
	var out, errb bytes.Buffer
	cmd := &packersdk.RemoteCmd{Command: command, Stdout: &out, Stderr: &errb}
	if err := comm.Start(ctx, cmd); err != nil {
		return "", "", -1, err
	}
	st := cmd.Wait()
	return out.String(), errb.String(), st, nil
}

// mustRemote runs command and fails unless it exits 0.
func mustRemote(ctx context.Context, comm packersdk.Communicator, command string) (string, error) {
	out, errOut, st, err := remote(ctx, comm, command)
	if err != nil {
		return "", fmt.Errorf("%s: %w", command, err)
	}
	if st != 0 {
		return "", fmt.Errorf("%s: exit status %d: %s", command, st, strings.TrimSpace(errOut+" "+out))
	}
	return out, nil
}

// selfExecutable returns the plugin's own binary, checked to be a Linux ELF executable, and
// the dynamic loader it needs ("" for a static binary).
func selfExecutable() (string, string, error) {
	if runtime.GOOS != "linux" {
		return "", "", fmt.Errorf("live mode uploads the plugin's own binary to the guest: Packer must run on Linux (this plugin is built for %s/%s)", runtime.GOOS, runtime.GOARCH)
	}
	exe, err := os.Executable()
	if err != nil {
		return "", "", fmt.Errorf("live mode: find the plugin binary: %w", err)
	}
	f, err := elf.Open(exe)
	if err != nil {
		return "", "", fmt.Errorf("live mode: read the plugin binary %s: %w", exe, err)
	}
	defer f.Close()
	interp := ""
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err == nil {
				interp = strings.TrimRight(string(b), "\x00")
			} else {
				interp = "unknown"
			}
		}
	}
	return exe, interp, nil
}

// provisionLive cleans the running system at the other end of comm with the plugin's own
// binary (see GuestCommand).
func (p *Provisioner) provisionLive(ctx context.Context, ui packersdk.Ui, comm packersdk.Communicator, generated map[string]interface{}) (retErr error) {
	if comm == nil {
		return errors.New("live mode: this build has no communicator to reach the guest")
	}
	if p.config.Target != "" {
		return errors.New("target: conversion needs a mounted guest tree (MountPath or root), not a live system")
	}
	exe, interp, err := selfExecutable()
	if err != nil {
		return err
	}
	if interp != "" {
		ui.Error(fmt.Sprintf("Warning: the plugin binary is dynamically linked (loader %s): it runs on the guest only if the guest has a compatible C library. "+
			"Build the plugin with CGO_ENABLED=0 (release builds are static).", interp))
	}

	// The guest must be able to run this binary.
	out, err := mustRemote(ctx, comm, "uname -s -m")
	if err != nil {
		return fmt.Errorf("live mode: inspect the guest: %w", err)
	}
	f := strings.Fields(out)
	if len(f) != 2 || f[0] != "Linux" || !contains(unameArch[runtime.GOARCH], f[1]) {
		return fmt.Errorf("live mode: the guest is %q; the uploaded engine (this plugin's binary) needs linux/%s (uname -m %s)",
			strings.TrimSpace(out), runtime.GOARCH, strings.Join(unameArch[runtime.GOARCH], " or "))
	}

	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	stage := path.Join(p.config.RemoteFolder, "chromogenic-clean-"+hex.EncodeToString(rnd[:]))
	bin, cfgFile, reportFile := stage+"/chromogenic-clean", stage+"/config.json", stage+"/report.json"
	if _, err := mustRemote(ctx, comm, "umask 077 && mkdir "+shellQuote(stage)); err != nil {
		return fmt.Errorf("live mode: create the staging directory: %w", err)
	}
	defer func() {
		// Not the build's context: a cancelled build still removes what it uploaded.
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := mustRemote(cctx, comm, "rm -rf "+shellQuote(stage)); err != nil {
			ui.Error(fmt.Sprintf("live mode: remove %s from the guest: %v", stage, err))
			if retErr == nil {
				retErr = fmt.Errorf("live mode: remove %s from the guest: %w", stage, err)
			}
			return
		}
		ui.Message(fmt.Sprintf("Removed %s from the guest", stage))
	}()

	ui.Say(fmt.Sprintf("Uploading the cleaning engine to %s...", stage))
	src, err := os.Open(exe)
	if err != nil {
		return err
	}
	fi, err := src.Stat()
	if err != nil {
		src.Close()
		return err
	}
	err = comm.Upload(bin, src, &fi)
	src.Close()
	if err != nil {
		return fmt.Errorf("live mode: upload the engine to %s: %w", bin, err)
	}
	if _, err := mustRemote(ctx, comm, "chmod 0755 "+shellQuote(bin)); err != nil {
		return fmt.Errorf("live mode: %w", err)
	}

	js, err := p.liveConfig(stage, reportFile, generated)
	if err != nil {
		return err
	}
	if err := comm.Upload(cfgFile, bytes.NewReader(js), nil); err != nil {
		return fmt.Errorf("live mode: upload the configuration to %s: %w", cfgFile, err)
	}

	command := shellQuote(bin) + " " + GuestCommand + " --config " + shellQuote(cfgFile)
	line, err := renderExecute(p.config.ExecuteCommand, executeData{Command: command, Path: shellQuote(bin), ConfigPath: shellQuote(cfgFile)}, &p.config.ctx)
	if err != nil {
		return fmt.Errorf("execute_command: %w", err)
	}
	what := "Cleaning"
	if p.config.options().DryRun {
		what = "Dry run: listing what cleaning"
	}
	ui.Say(fmt.Sprintf("%s the live guest's / (%s)...", what, strings.Join(p.config.Operations, ", ")))
	cmd := &packersdk.RemoteCmd{Command: line}
	if err := cmd.RunWithUi(ctx, comm, ui); err != nil {
		return fmt.Errorf("live mode: run %s: %w", line, err)
	}
	status := cmd.ExitStatus()

	var rb []byte
	if status == 0 || status == guestOpError {
		if rb, err = downloadReport(comm, reportFile, maxReportSize); err != nil {
			return err
		}
	}
	if len(rb) == 0 {
		hint := "its error is above"
		if status == 126 || status == 127 {
			hint = "the guest could not execute it: is remote_folder " + p.config.RemoteFolder + " mounted noexec, or is execute_command wrong?"
		}
		return fmt.Errorf("live mode: the cleaning engine on the guest failed (exit status %d, no report; %s)", status, hint)
	}
	var rep engine.Report
	if err := json.Unmarshal(rb, &rep); err != nil {
		return fmt.Errorf("live mode: the guest's report: %w", err)
	}
	for _, l := range strings.Split(strings.TrimRight(rep.Summary(), "\n"), "\n") {
		ui.Message(l)
	}
	if err := hostfile.WriteFile(p.config.ReportFile, rb, hostfile.DefaultFileMode); err != nil {
		ui.Error(fmt.Sprintf("report_file: %s", err))
	} else {
		ui.Say(fmt.Sprintf("Cleaning report written to %s", p.config.ReportFile))
	}
	if err := rep.Err(); err != nil {
		return err
	}
	if status != 0 {
		return fmt.Errorf("live mode: the cleaning engine on the guest exited with status %d", status)
	}
	return nil
}

// liveConfig is the configuration uploaded to the guest: the options, the live rules and the
// Packer host's identity, keyed (engine.HostIdentity.Keyed) so the guest never sees this
// machine's machine-id or boot id.
func (p *Provisioner) liveConfig(stage, reportFile string, generated map[string]interface{}) ([]byte, error) {
	opts := p.config.options()
	me, err := engine.LocalIdentity().Keyed()
	if err != nil {
		return nil, err
	}
	opts.Live = &engine.Live{Protect: []string{stage}, RemoveSessionKeys: p.config.RemoveSessionKeys, PackerHost: &me}
	if u, ok := generated["User"].(string); ok && u != "" && !strings.HasPrefix(u, "ERR_") {
		opts.Live.SessionUsers = []string{u}
	}
	return json.Marshal(guestConfig{Options: *opts, Report: reportFile})
}

// maxReportSize bounds the report downloaded from a live guest: a real one is a few hundred
// KiB even for a guest with many files to clean; the guest is not trusted to send less.
const maxReportSize = 64 << 20

// errReportTooLarge stops a report download at its bound.
var errReportTooLarge = fmt.Errorf("larger than %d MiB", maxReportSize>>20)

// cappedBuffer is a bytes.Buffer that refuses to grow past max.
type cappedBuffer struct {
	bytes.Buffer
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		n, _ := b.Buffer.Write(p[:b.max-b.Len()])
		return n, errReportTooLarge
	}
	return b.Buffer.Write(p)
}

// downloadReport downloads the guest's report, at most max bytes.
func downloadReport(comm packersdk.Communicator, reportFile string, max int) ([]byte, error) {
	b := &cappedBuffer{max: max}
	err := comm.Download(reportFile, b)
	if err == nil && b.Len() >= max {
		err = errReportTooLarge // a communicator that ignored the writer's error
	}
	if err != nil {
		if errors.Is(err, errReportTooLarge) || b.Len() >= max {
			return nil, fmt.Errorf("live mode: the guest's report %s is %w: refused", reportFile, errReportTooLarge)
		}
		return nil, fmt.Errorf("live mode: download the report %s: %w", reportFile, err)
	}
	return b.Bytes(), nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
