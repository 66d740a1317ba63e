// Command ec2emu runs the EC2/EBS/S3 emulator of test/ec2emu standalone on 127.0.0.1, for
// manual runs of the plugin (packer build against it) or of other clients such as awscli.
//
//	go run ./test/ec2emu/cmd/ec2emu -instance web=/path/to/disk.raw -ec2-addr 127.0.0.1:8773
//
// It prints the endpoints and credentials as shell exports, then serves until interrupted.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	var (
		o         ec2emu.Options
		dialect   = flag.String("dialect", "aws", "aws or eucalyptus")
		instances multiFlag
		buckets   multiFlag
		verbose   = flag.Bool("v", false, "log every request")
	)
	flag.StringVar(&o.EC2Addr, "ec2-addr", "127.0.0.1:0", "EC2 listen address (the only one for -dialect eucalyptus)")
	flag.StringVar(&o.EBSAddr, "ebs-addr", "127.0.0.1:0", "EBS direct API listen address")
	flag.StringVar(&o.S3Addr, "s3-addr", "127.0.0.1:0", "S3 listen address")
	flag.StringVar(&o.Region, "region", "", "region (default us-east-1, or eucalyptus)")
	flag.StringVar(&o.Dir, "dir", "", "data directory (default a temporary one, removed at exit)")
	flag.BoolVar(&o.TLS, "tls", false, "serve HTTPS with a self-signed certificate")
	flag.DurationVar(&o.ImageDelay, "image-delay", 2*time.Second, "time new images stay pending")
	flag.DurationVar(&o.SnapshotDelay, "snapshot-delay", time.Second, "time new snapshots stay pending")
	flag.DurationVar(&o.ImportDelay, "import-delay", 3*time.Second, "time import tasks stay active")
	flag.DurationVar(&o.Latency, "latency", 0, "latency added to every request")
	flag.Var(&instances, "instance", "NAME=RAWDISK: seed a running instance (repeatable)")
	flag.Var(&buckets, "bucket", "bucket to create (repeatable)")
	flag.Parse()

	switch *dialect {
	case "aws":
	case "eucalyptus", "euca":
		o.Dialect = ec2emu.Eucalyptus
	default:
		log.Fatalf("unknown dialect %q", *dialect)
	}
	if *verbose {
		o.Logf = log.Printf
	}
	srv, err := ec2emu.New(o)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	for _, spec := range instances {
		name, disk, ok := strings.Cut(spec, "=")
		if !ok {
			log.Fatalf("-instance %q: want NAME=RAWDISK", spec)
		}
		id, err := srv.AddInstance(ec2emu.Instance{Name: name, RootDisk: disk})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("# instance %s (Name=%s) root disk %s\n", id, name, disk)
	}
	for _, b := range buckets {
		srv.CreateBucket(b)
	}
	fmt.Printf("export AWS_ACCESS_KEY_ID=%s\n", srv.AccessKeyID)
	fmt.Printf("export AWS_SECRET_ACCESS_KEY=%s\n", srv.SecretAccessKey)
	fmt.Printf("export AWS_REGION=%s\n", srv.Region)
	fmt.Printf("export AWS_ENDPOINT_URL_EC2=%s\n", srv.EC2Endpoint)
	if srv.EBSEndpoint != "" {
		fmt.Printf("export AWS_ENDPOINT_URL_EBS=%s\n", srv.EBSEndpoint)
	}
	fmt.Printf("export AWS_ENDPOINT_URL_S3=%s\n", srv.S3Endpoint)
	fmt.Printf("# account %s; S3 is path-style\n", srv.AccountID)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}
