package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	ec2cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
	oscloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
)

// Cloud flags shared by push and capture. Credentials come the way each cloud's own client
// finds them: clouds.yaml (--os-cloud, else $OS_CLOUD) or the OS_* environment for
// OpenStack; the AWS_* environment, shared config/credentials files and profiles for AWS and
// Eucalyptus. The CLI never takes a secret on its command line.

// osFlags select an OpenStack cloud.
type osFlags struct {
	cloud, region string
}

func (f *osFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.cloud, "os-cloud", "", "")
	fs.StringVar(&f.region, "os-region", "", "")
}

func (f *osFlags) auth() oscloud.Auth {
	return oscloud.Auth{Cloud: f.cloud, Region: f.region}
}

// awsFlags select an EC2-compatible cloud.
type awsFlags struct {
	region, profile, endpoint, ebsEndpoint, s3Endpoint string
	insecure, s3SigV2                                  bool
}

func (f *awsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.region, "region", "", "")
	fs.StringVar(&f.profile, "profile", "", "")
	fs.StringVar(&f.endpoint, "endpoint", "", "")
	fs.StringVar(&f.ebsEndpoint, "ebs-endpoint", "", "")
	fs.StringVar(&f.s3Endpoint, "s3-endpoint", "", "")
	fs.BoolVar(&f.insecure, "insecure", false, "")
	fs.BoolVar(&f.s3SigV2, "s3-sigv2", false, "")
}

func (f *awsFlags) access(eucalyptus bool, connections int) ec2cloud.Access {
	return ec2cloud.Access{Region: f.region, Profile: f.profile, EC2Endpoint: f.endpoint, EBSEndpoint: f.ebsEndpoint,
		S3Endpoint: f.s3Endpoint, Insecure: f.insecure, S3SigV2: f.s3SigV2, Eucalyptus: eucalyptus, Connections: connections}
}

// parseCloudArgs parses the flags of a cloud command (with -h and --help) and checks the
// cloud chosen with option (--to, --from): given, known, and no flag of another cloud set.
func parseCloudArgs(fs *flag.FlagSet, args []string, cmd, option string, cloud *string, clouds []string, scope map[string][]string) (pos []string, help bool, err error) {
	h := fs.Bool("help", false, "")
	fs.BoolVar(h, "h", false, "")
	if pos, err = parseInterleaved(fs, args); err != nil || *h {
		return nil, *h && err == nil, err
	}
	switch {
	case *cloud == "":
		return nil, false, usageError{fmt.Errorf("%s needs %s %s", cmd, option, strings.Join(clouds, "|"))}
	case !slices.Contains(clouds, *cloud):
		return nil, false, usageError{fmt.Errorf("unknown %s %q: want %s", option, *cloud, strings.Join(clouds, ", "))}
	}
	return pos, false, checkFlagScope(fs, option, *cloud, scope)
}

// checkLimits checks the --timeout and --concurrency a cloud command was given.
func checkLimits(timeout time.Duration, concurrency int) error {
	if timeout <= 0 {
		return usageError{fmt.Errorf("--timeout %s: want a positive duration", timeout)}
	}
	if concurrency < 1 || concurrency > 1000 {
		return usageError{fmt.Errorf("--concurrency %d: want 1 to 1000", concurrency)}
	}
	return nil
}

// checkFlagScope refuses a flag given for another cloud than the one chosen: scope maps a
// flag name to the clouds it is for (flags not listed are for all).
func checkFlagScope(fs *flag.FlagSet, option, cloud string, scope map[string][]string) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		clouds, ok := scope[f.Name]
		if !ok || err != nil {
			return
		}
		if len(clouds) == 0 {
			err = usageError{fmt.Errorf("--%s is not an option of this command", f.Name)}
			return
		}
		if slices.Contains(clouds, cloud) {
			return
		}
		err = usageError{fmt.Errorf("--%s is for %s %s, not %s", f.Name, option, strings.Join(clouds, "|"), cloud)}
	})
	return err
}

// keyValues is a repeatable key=value flag.
type keyValues map[string]string

func (kv keyValues) String() string { return "" }

func (kv keyValues) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not key=value", s)
	}
	kv[k] = v
	return nil
}

// strList is a repeatable flag.
type strList []string

func (l *strList) String() string { return strings.Join(*l, ",") }

func (l *strList) Set(s string) error { *l = append(*l, s); return nil }

// reporter prints what a cloud operation does on stderr: stages, details, errors it went on
// after, and with --progress a percentage line.
type reporter struct {
	w        io.Writer
	progress func(done, total int64)
}

func newReporter(w io.Writer, progress bool) *reporter {
	r := &reporter{w: w}
	if progress {
		r.progress = progressPrinter(w)
	}
	return r
}

func (r *reporter) say(s string)     { fmt.Fprintf(r.w, "==> %s\n", s) }
func (r *reporter) message(s string) { fmt.Fprintf(r.w, "    %s\n", s) }
func (r *reporter) error(s string)   { fmt.Fprintf(r.w, "chromogenic: %s\n", s) }

func (r *reporter) ec2Report() ec2cloud.Report {
	return ec2cloud.Report{Say: r.say, Message: r.message, Error: r.error, Progress: r.progress}
}

// printResult prints the result: as JSON, or the value of key alone on its line.
func printResult(w io.Writer, res map[string]any, key string, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	_, err := fmt.Fprintln(w, res[key])
	return err
}

// mustNotExist refuses to write over a file the user has.
func mustNotExist(path string) error {
	if _, err := os.Lstat(path); err == nil {
		return usageError{fmt.Errorf("output %s exists: chromogenic does not overwrite it", path)}
	} else if !os.IsNotExist(err) {
		return err
	}
	return nil
}
