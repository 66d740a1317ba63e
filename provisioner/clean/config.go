//go:generate packer-sdc struct-markdown
//go:generate packer-sdc mapstructure-to-hcl2 -type Config,LineRule,AppendRule
//go:generate go run ./internal/opsdoc ../../docs-partials/provisioner/clean/operations.mdx

package clean

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/hashicorp/packer-plugin-sdk/common"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	engine "github.com/chromogenic/packer-plugin-chromogenic/internal/clean"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/retarget"
)

// Config is the chromogenic-clean provisioner's configuration.
type Config struct {
	common.PackerConfig `mapstructure:",squash"`

	// The operations to run: group names (`defaults`, `chromogenic` = defaults plus
	// Atmosphere data, user accounts and Kerberos data, `all`), operation names, `+name` to
	// add and `-name` to remove one. Defaults to `["defaults"]`.
	Operations []string `mapstructure:"operations" required:"false"`
	// List what would change without changing anything.
	DryRun bool `mapstructure:"dry_run" required:"false"`
	// user-account: remove only these accounts (default: every ordinary account, by the
	// guest's login.defs UID range).
	RemoveUsers []string `mapstructure:"remove_users" required:"false"`
	// user-account: never remove these accounts.
	KeepUsers []string `mapstructure:"keep_users" required:"false"`
	// user-account: keep the home directories, mail spools and crontabs of removed accounts.
	KeepHomes bool `mapstructure:"keep_homes" required:"false"`
	// Custom rule: guest globs to remove (directories with their content).
	Remove []string `mapstructure:"remove" required:"false"`
	// Custom rule: guest globs of files to empty in place (owner, mode and inode kept).
	Truncate []string `mapstructure:"truncate" required:"false"`
	// Custom rule: delete the lines matching `regexp` in `file`.
	DeleteLines []LineRule `mapstructure:"delete_lines" required:"false"`
	// Custom rule: replace the matches of `regexp` with `replacement` in each line of `file`.
	ReplaceLines []LineRule `mapstructure:"replace_lines" required:"false"`
	// Custom rule: append `line` to `file` unless it is there already.
	AppendLines []AppendRule `mapstructure:"append_lines" required:"false"`
	// Where to write the JSON report of every file removed, emptied or edited. Defaults to
	// `chromogenic-clean-<build name>.json` in the current directory, mode 0600 (it names the
	// guest's files). A human summary is printed in Packer's output either way.
	ReportFile string `mapstructure:"report_file" required:"false"`
	// The guest tree to clean. Defaults to the `MountPath` a chromogenic builder provides.
	Root string `mapstructure:"root" required:"false"`
	// Convert the guest for another platform after cleaning. `kvm`: a Xen guest becomes a KVM
	// guest (Xen consoles to ttyS0, `xvd` disks to `vd` in fstab, crypttab and the bootloader
	// configuration, modprobe aliases and the initramfs configuration to virtio drivers, the
	// initramfs rebuilt by the guest's own tool inside the guest root, the old one kept as
	// `*.pre-chromogenic`, grub.cfg regenerated when the guest has grub-mkconfig). The guest's
	// tools run in the sandbox (see `sandbox`). Empty (the default): no conversion.
	Target string `mapstructure:"target" required:"false"`
	// Run the guest's own programs that `target` and the `xen-to-kvm` operation need
	// (update-initramfs, dracut, grub-mkconfig) in a sandbox: namespaces, pivot_root into the
	// guest, a fresh `/proc`, a private `/dev`, a cut capability set, a seccomp filter, a fixed
	// environment and no network (see docs/trust-model.md). Needs bubblewrap (`bwrap`) on the
	// host. Defaults to `true`. `false` runs them with plain chroot: it **trusts the guest**, and
	// needs the builder's chroot mounts (proc, sys, dev: the builder's `sandbox = false`).
	Sandbox *bool `mapstructure:"sandbox" required:"false"`
	// Where the guest is cleaned. `mounted`: the guest tree a chromogenic builder mounted
	// (`MountPath`) or `root`, by the plugin itself. `live`: the running system at the other
	// end of the build's communicator (SSH, ...): the plugin uploads its own binary there, runs
	// the same cleaning engine on the guest's `/` with the live-system rules, downloads the
	// report and removes what it uploaded. Empty (the default): `mounted` when the build
	// provides `MountPath` or `root` is set, `live` otherwise.
	Mode string `mapstructure:"mode" required:"false"`
	// Live mode: the command that runs the uploaded engine on the guest, a template with
	// `{{.Command}}` (the whole engine command line, quoted), `{{.Path}}` (the uploaded
	// executable) and `{{.ConfigPath}}` (its JSON configuration). Defaults to `{{.Command}}`;
	// use `sudo -n {{.Command}}` when the communicator user is not root.
	ExecuteCommand string `mapstructure:"execute_command" required:"false"`
	// Live mode: the guest directory in which a private staging directory
	// (`chromogenic-clean-<random>`, mode 0700) receives the engine, its configuration and
	// its report; it is removed afterwards. Defaults to `/tmp`.
	RemoteFolder string `mapstructure:"remote_folder" required:"false"`
	// Live mode: let ssh-userdir also remove the `authorized_keys` of the communicator's login
	// user (and of the user the engine runs as). By default they are kept so the machine stays
	// reachable with the build's key; the running session is not affected either way.
	RemoveSessionKeys bool `mapstructure:"remove_session_keys" required:"false"`

	ctx interpolate.Context
}

// LineRule is a line edit in a guest file.
type LineRule struct {
	// The guest file (a glob is allowed).
	File string `mapstructure:"file" required:"true"`
	// An RE2 regular expression matched against each line.
	Regexp string `mapstructure:"regexp" required:"true"`
	// The replacement (replace_lines only); `$1` and `${name}` refer to groups.
	Replacement string `mapstructure:"replacement" required:"false"`
}

// AppendRule appends a line to a guest file when absent.
type AppendRule struct {
	// The guest file.
	File string `mapstructure:"file" required:"true"`
	// The line to append.
	Line string `mapstructure:"line" required:"true"`
	// Create the file (mode 0644) when missing.
	Create bool `mapstructure:"create" required:"false"`
}

// Prepare decodes and validates; every error names its field.
func (c *Config) Prepare(raws ...interface{}) error {
	if err := config.Decode(c, &config.DecodeOpts{
		PluginType: "chromogenic-clean", Interpolate: true, InterpolateContext: &c.ctx,
		InterpolateFilter: &interpolate.RenderFilter{Exclude: []string{"execute_command"}},
	}, raws...); err != nil {
		return err
	}
	if len(c.Operations) == 0 {
		c.Operations = []string{"defaults"}
	}
	if c.ReportFile == "" {
		name := c.PackerBuildName
		if name == "" {
			name = "build"
		}
		c.ReportFile = "chromogenic-clean-" + name + ".json"
	}
	if c.ExecuteCommand == "" {
		c.ExecuteCommand = "{{.Command}}"
	}
	if c.RemoteFolder == "" {
		c.RemoteFolder = "/tmp"
	}
	var errs *packersdk.MultiError
	switch c.Mode {
	case "", ModeMounted:
	case ModeLive:
		if c.Root != "" {
			errs = packersdk.MultiErrorAppend(errs, errors.New("root: not used in live mode (the live guest's / is cleaned)"))
		}
		if c.Target != "" {
			errs = packersdk.MultiErrorAppend(errs, errors.New("target: conversion needs a mounted guest tree (mode = \"mounted\"), not a live system"))
		}
	default:
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("mode: %q is not one of %q, %q (or empty: automatic)", c.Mode, ModeMounted, ModeLive))
	}
	if _, err := renderExecute(c.ExecuteCommand, executeData{Command: "c", Path: "p", ConfigPath: "f"}, &c.ctx); err != nil {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("execute_command: %w", err))
	} else if !strings.Contains(c.ExecuteCommand, ".Command") && !strings.Contains(c.ExecuteCommand, ".Path") {
		errs = packersdk.MultiErrorAppend(errs, errors.New("execute_command: must run {{.Command}} (or {{.Path}} with its arguments)"))
	}
	if !path.IsAbs(c.RemoteFolder) || path.Clean(c.RemoteFolder) == "/" || strings.ContainsAny(c.RemoteFolder, "\n\x00") {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("remote_folder: %q must be an absolute guest directory other than /", c.RemoteFolder))
	}
	if _, err := engine.Resolve(c.Operations); err != nil {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("operations: %w", err))
	} else if err := c.options().Validate(); err != nil {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("rules: %s", strings.TrimPrefix(err.Error(), "clean: ")))
	}
	if c.Target != "" && c.Target != retarget.KVM {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("target: %q is not supported (supported: %s)", c.Target, retarget.KVM))
	}
	for i, r := range c.DeleteLines {
		if r.Replacement != "" {
			errs = packersdk.MultiErrorAppend(errs, fmt.Errorf("delete_lines[%d]: replacement is for replace_lines", i))
		}
	}
	if errs != nil && len(errs.Errors) > 0 {
		return errs
	}
	return nil
}

// options is the engine's form of the configuration.
func (c *Config) options() *engine.Options {
	o := &engine.Options{
		Operations: c.Operations,
		DryRun:     c.DryRun,
		Users:      engine.UserOptions{Remove: c.RemoveUsers, Keep: c.KeepUsers, KeepHomes: c.KeepHomes},
		Rules:      engine.Rules{Remove: c.Remove, Truncate: c.Truncate},
		TrustGuest: c.Sandbox != nil && !*c.Sandbox,
	}
	for _, r := range c.DeleteLines {
		o.Rules.DeleteLines = append(o.Rules.DeleteLines, engine.LineRule{File: r.File, Regexp: r.Regexp})
	}
	for _, r := range c.ReplaceLines {
		o.Rules.ReplaceLines = append(o.Rules.ReplaceLines, engine.LineRule{File: r.File, Regexp: r.Regexp, Replacement: r.Replacement})
	}
	for _, r := range c.AppendLines {
		o.Rules.AppendLines = append(o.Rules.AppendLines, engine.AppendRule{File: r.File, Line: r.Line, Create: r.Create})
	}
	return o
}
