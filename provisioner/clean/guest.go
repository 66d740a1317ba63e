//go:build linux

package clean

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	engine "github.com/chromogenic/packer-plugin-chromogenic/internal/clean"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/guestfs"
)

// GuestCommand is the hidden first argument with which the plugin binary, uploaded to a live
// guest by the provisioner's live mode, runs the cleaning engine there:
//
//	packer-plugin-chromogenic clean-guest --config FILE
//
// main.go dispatches it before starting the plugin server. Packer never passes it.
const GuestCommand = "clean-guest"

// Exit statuses of the guest command.
const (
	guestOK      = 0 // ran, no op error
	guestOpError = 1 // ran (report written) but some op failed
	guestFatal   = 2 // did not run (no report): bad configuration, refused root...
)

// guestConfig is the JSON file the provisioner uploads next to the engine.
type guestConfig struct {
	Options engine.Options `json:"options"`
	// Report is where the engine writes the JSON report (mode 0644, so the communicator
	// user can download it when the engine ran through sudo).
	Report string `json:"report"`
}

// GuestMain runs the guest command with args (after GuestCommand) and returns the exit
// status. Progress goes to stdout, errors to stderr.
func GuestMain(args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet(GuestCommand, flag.ContinueOnError)
	fset.SetOutput(stderr)
	cfgPath := fset.String("config", "", "JSON configuration written by the chromogenic-clean provisioner")
	if err := fset.Parse(args); err != nil {
		return guestFatal
	}
	if *cfgPath == "" || fset.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: packer-plugin-chromogenic clean-guest --config FILE (run by the chromogenic-clean provisioner)")
		return guestFatal
	}
	raw, err := os.ReadFile(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "chromogenic-clean: %v\n", err)
		return guestFatal
	}
	var cfg guestConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		fmt.Fprintf(stderr, "chromogenic-clean: %s: %v\n", *cfgPath, err)
		return guestFatal
	}
	// The Packer host identity is required: without it nothing would stop a run on the
	// machine Packer itself runs on.
	if cfg.Options.Live == nil || cfg.Options.Live.PackerHost == nil || cfg.Report == "" {
		fmt.Fprintf(stderr, "chromogenic-clean: %s: not a live-mode configuration (no live rules, Packer host identity or report path)\n", *cfgPath)
		return guestFatal
	}
	opts := cfg.Options
	// The engine's own files are protected whatever the configuration says.
	live := *opts.Live
	live.Protect = append(append([]string(nil), live.Protect...), filepath.Dir(*cfgPath), filepath.Dir(cfg.Report))
	if exe, err := os.Executable(); err == nil {
		live.Protect = append(live.Protect, exe)
	}
	opts.Live = &live
	opts.AllowLiveRoot = true
	opts.Logf = func(format string, a ...any) { fmt.Fprintf(stdout, format+"\n", a...) }

	// On a live system every file is the guest's own: a hard link cannot reach another
	// machine's file, so hard-linked files may be edited.
	root, err := guestfs.OpenRootWithOptions("/", guestfs.Options{AllowHardlinkWrites: true})
	if err != nil {
		fmt.Fprintf(stderr, "chromogenic-clean: open /: %v\n", err)
		return guestFatal
	}
	defer root.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	rep, runErr := engine.Run(ctx, root, opts)
	if rep == nil {
		fmt.Fprintf(stderr, "chromogenic-clean: %v\n", runErr)
		return guestFatal
	}
	js, err := rep.JSON()
	if err == nil {
		err = writeReport(cfg.Report, js)
	}
	if err != nil {
		fmt.Fprintf(stderr, "chromogenic-clean: report: %v\n", err)
		return guestFatal
	}
	if runErr != nil {
		fmt.Fprintf(stderr, "chromogenic-clean: %v\n", runErr)
		return guestOpError
	}
	return guestOK
}

// writeReport creates the report file (never following a symlink planted in its place).
func writeReport(p string, js []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil { // umask
		f.Close()
		return err
	}
	if _, err := f.Write(js); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
