package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// TestCloudUsageErrors: push, capture and convert --bootable refuse bad command lines
// before any work, naming the flag (exit 2), or the file (exit 1); nothing is written.
func TestCloudUsageErrors(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.raw")
	makeRaw(t, img, 8<<20)
	existing := filepath.Join(dir, "existing.raw")
	if err := os.WriteFile(existing, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.qcow2")
	for _, c := range []struct {
		code int
		want string
		args []string
	}{
		{2, "push needs --to", []string{"push", img}},
		{2, `unknown --to "gcp"`, []string{"push", "--to", "gcp", img}},
		{2, "push needs one IMAGE", []string{"push", "--to", "aws"}},
		{2, "--bucket is for --to eucalyptus, not openstack", []string{"push", "--to", "openstack", "--bucket", "b", img}},
		{2, "--os-cloud is for --to openstack, not aws", []string{"push", "--to", "aws", "--os-cloud", "x", img}},
		{2, "--ebs-endpoint is for --to aws, not eucalyptus", []string{"push", "--to", "eucalyptus", "--ebs-endpoint", "http://x", img}},
		{2, "--to eucalyptus needs --bucket", []string{"push", "--to", "eucalyptus", img}},
		{2, "--register bundle needs --user-key", []string{"push", "--to", "eucalyptus", "--bucket", "b", img}},
		{2, "--register import-volume needs --zone", []string{"push", "--to", "eucalyptus", "--bucket", "b", "--register", "import-volume", img}},
		{2, `--visibility "everyone"`, []string{"push", "--to", "openstack", "--visibility", "everyone", img}},
		{2, "--format", []string{"push", "--to", "openstack", "--format", "nosuch", img}},
		{2, "--tag", []string{"push", "--to", "aws", "--tag", "novalue", img}},
		{2, "--concurrency 0", []string{"push", "--to", "aws", "--concurrency", "0", img}},
		{1, "missing.raw", []string{"push", "--to", "aws", filepath.Join(dir, "missing.raw")}},
		{2, "capture needs --from", []string{"capture", "--image", "x", out}},
		{2, `unknown --from "azure"`, []string{"capture", "--from", "azure", "--image", "x", out}},
		{2, "capture --from openstack needs --server ID or --image ID", []string{"capture", "--from", "openstack", out}},
		{2, "--server and --image exclude each other", []string{"capture", "--from", "openstack", "--server", "s", "--image", "i", out}},
		{2, "--server is for --from openstack, not aws", []string{"capture", "--from", "aws", "--server", "s", out}},
		{2, "--snapshot is for --from aws, not openstack", []string{"capture", "--from", "openstack", "--snapshot", "snap-1", out}},
		{2, "--snapshot and --instance exclude each other", []string{"capture", "--from", "aws", "--instance", "i-1", "--snapshot", "snap-1", out}},
		{2, "--no-reboot is for --from aws, not openstack", []string{"capture", "--from", "openstack", "--image", "x", "--no-reboot", out}},
		{2, "--s3-endpoint is not an option", []string{"capture", "--from", "aws", "--snapshot", "snap-1", "--s3-endpoint", "http://x", out}},
		{2, "OUTPUT - (standard output) is not supported", []string{"capture", "--from", "aws", "--snapshot", "snap-1", "-"}},
		{2, "capture needs one OUTPUT", []string{"capture", "--from", "aws", "--snapshot", "snap-1"}},
		{2, "output " + existing + " exists", []string{"capture", "--from", "aws", "--snapshot", "snap-1", existing}},
		{2, "--format", []string{"capture", "--from", "aws", "--snapshot", "snap-1", "--format", "nosuch", out}},
		{2, "option name is for ova output, not qcow2", []string{"capture", "--from", "aws", "--snapshot", "snap-1", "--format", "qcow2", "-o", "name=x", out}},
		{1, "its directory does not exist", []string{"capture", "--from", "aws", "--snapshot", "snap-1", filepath.Join(dir, "nodir", "x.raw")}},
		{2, "--firmware is an option of --bootable", []string{"convert", img, out, "-O", "qcow2", "--firmware", "efi"}},
		{2, `--firmware "arm"`, []string{"convert", img, out, "-O", "qcow2", "--bootable", "--firmware", "arm"}},
		{2, "--bootloader is an option of --bootable", []string{"convert", img, out, "-O", "qcow2", "--bootloader", "grub"}},
		{2, `--bootloader "lilo": want grub or extlinux`, []string{"convert", img, out, "-O", "qcow2", "--bootable", "--bootloader", "lilo"}},
		{2, "--ramdisk needs --kernel", []string{"convert", img, out, "-O", "qcow2", "--bootable", "--ramdisk", img}},
		{1, "--kernel", []string{"convert", img, out, "-O", "qcow2", "--bootable", "--kernel", filepath.Join(dir, "vmlinuz")}},
		{1, "--kernel", []string{"convert", img, out, "-O", "qcow2", "--bootable", "--kernel", img}},
		{2, "--extra-size", []string{"convert", img, out, "-O", "qcow2", "--bootable", "--extra-size", "lots"}},
		{2, `--lvm "thin"`, []string{"convert", img, out, "-O", "qcow2", "--bootable", "--lvm", "thin"}},
		{2, "--lvm is an option of --bootable", []string{"convert", img, out, "-O", "qcow2", "--lvm", "keep"}},
		{2, "--root-subvolume is an option of --bootable", []string{"convert", img, out, "-O", "qcow2", "--root-subvolume", "@"}},
		{2, `--root-volume "rhel": want an LVM logical volume as vg/lv`, []string{"convert", img, out, "-O", "qcow2", "--bootable", "--root-volume", "rhel"}},
		{2, "--root-partition is an option of --bootable", []string{"convert", img, out, "-O", "qcow2", "--root-partition", "2"}},
		{2, "--root-partition must be 0 (find it) or a partition number, not -1", []string{"convert", img, out, "-O", "qcow2", "--bootable", "--root-partition", "-1"}},
		{2, `--root-partition 2 and --root-volume "vg/root" are both set`, []string{"convert", img, out, "-O", "qcow2", "--bootable", "--root-partition", "2", "--root-volume", "vg/root"}},
		{2, `--root-subvolume: subvolume path "../x" climbs`, []string{"convert", img, out, "-O", "qcow2", "--bootable", "--root-subvolume", "../x"}},
		{2, "option firmware=efi does not match --firmware bios", []string{"convert", img, out, "-O", "ova", "--bootable", "-o", "firmware=efi"}},
	} {
		_, stderr := cli(t, c.code, c.args...)
		if !strings.Contains(stderr, c.want) {
			t.Errorf("chromogenic %s: stderr %q does not say %q", strings.Join(c.args, " "), stderr, c.want)
		}
	}
	if b, err := os.ReadFile(existing); err != nil || string(b) != "keep me" {
		t.Errorf("the existing output was touched: %q %v", b, err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("files written by refused commands: %v", ents)
	}
	for _, cmd := range []string{"push", "capture"} {
		stdout, _ := cli(t, 0, cmd, "--help")
		if !strings.HasPrefix(stdout, "usage: chromogenic "+cmd) {
			t.Errorf("%s --help:\n%s", cmd, stdout)
		}
	}
}

// emuEnv points the AWS SDK of the CLI at the emulator's credentials and region only.
func emuEnv(t *testing.T, srv *ec2emu.Server) {
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretAccessKey)
	t.Setenv("AWS_REGION", srv.Region)
	for _, k := range []string{"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_REGION"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// TestPushCaptureEC2: a qcow2 pushed to the EC2 emulator becomes an AMI whose snapshot holds
// exactly the disk's bytes; capture --image and --snapshot bring it home (raw and qcow2)
// equal to the source; a push whose registration fails leaves no snapshot or image, and a
// capture of a missing snapshot leaves no file.
func TestPushCaptureEC2(t *testing.T) {
	srv := ec2emu.Start(t)
	emuEnv(t, srv)
	dir := t.TempDir()
	raw := filepath.Join(dir, "src.raw")
	const size = 24<<20 + 512
	makeRaw(t, raw, size)
	src := filepath.Join(dir, "src.qcow2")
	cli(t, 0, "convert", raw, src, "-O", "qcow2")
	endpoints := []string{"--region", srv.Region, "--endpoint", srv.EC2Endpoint, "--ebs-endpoint", srv.EBSEndpoint}

	stdout, stderr := cli(t, 0, append([]string{"push", "--to", "aws", src, "--name", "cli-push", "--tag", "team=chromogenic",
		"--boot-mode", "uefi", "--ena", "--json", "--progress"}, endpoints...)...)
	var res map[string]string
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v\n%s\n%s", err, stdout, stderr)
	}
	ami, snap := res["id"], res["snapshot_id"]
	if !strings.HasPrefix(ami, "ami-") || !strings.HasPrefix(snap, "snap-") || res["name"] != "cli-push" {
		t.Fatalf("push result %v", res)
	}
	if !strings.Contains(stderr, "100/100%") || !strings.Contains(stderr, "AMI "+ami) {
		t.Errorf("stderr:\n%s", stderr)
	}
	if ids := srv.ImageIDs(); len(ids) != 1 || ids[0] != ami {
		t.Errorf("images %v, want [%s]", ids, ami)
	}
	got := filepath.Join(dir, "snapshot.raw")
	if err := srv.WriteSnapshotFile(snap, got, size); err != nil {
		t.Fatal(err)
	}
	qemuImg(t, "compare", "-f", "raw", "-F", "raw", raw, got)

	// The id alone on stdout without --json.
	plain, _ := cli(t, 0, append([]string{"capture", "--from", "aws", "--image", ami, filepath.Join(dir, "home.raw")}, endpoints...)...)
	if strings.TrimSpace(plain) != filepath.Join(dir, "home.raw") {
		t.Errorf("capture printed %q", plain)
	}
	qemuImg(t, "compare", "-f", "raw", "-F", "raw", raw, filepath.Join(dir, "home.raw"))
	cli(t, 0, append([]string{"capture", "--from", "aws", "--snapshot", snap, "--format", "qcow2", filepath.Join(dir, "home.qcow2")}, endpoints...)...)
	qemuImg(t, "check", "-f", "qcow2", filepath.Join(dir, "home.qcow2"))
	qemuImg(t, "compare", "-f", "raw", "-F", "qcow2", raw, filepath.Join(dir, "home.qcow2"))
	for _, f := range []string{"home.raw", "home.qcow2"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v (%v), want 0600", f, fi.Mode(), err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if ids := srv.SnapshotIDs(); len(ids) != 1 {
		t.Errorf("capture changed the snapshots: %v", ids)
	}

	// An instance: captured through an intermediate AMI (CreateImage, a reboot), which is
	// deleted with its snapshot once the data is home; the instance and its disk stay.
	inst, err := srv.AddInstance(ec2emu.Instance{RootDisk: raw})
	if err != nil {
		t.Fatal(err)
	}
	before := srv.ImageIDs()
	stdout, stderr = cli(t, 0, append([]string{"capture", "--from", "aws", "--instance", inst, filepath.Join(dir, "instance.vmdk"),
		"--format", "vmdk", "--json"}, endpoints...)...)
	var cres map[string]any
	if err := json.Unmarshal([]byte(stdout), &cres); err != nil {
		t.Fatalf("%v\n%s\n%s", err, stdout, stderr)
	}
	if im, _ := cres["intermediate_image"].(string); !strings.HasPrefix(im, "ami-") || cres["source"] != "instance "+inst {
		t.Errorf("capture --instance result %v", cres)
	}
	qemuImg(t, "compare", "-f", "raw", "-F", "vmdk", raw, filepath.Join(dir, "instance.vmdk"))
	if n := srv.InstanceReboots(inst); n != 1 {
		t.Errorf("instance rebooted %d times by CreateImage, want 1", n)
	}
	if after := srv.ImageIDs(); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Errorf("images after capture --instance: %v, want %v (the intermediate AMI deleted)", after, before)
	}
	if ids := srv.SnapshotIDs(); len(ids) != 1 || ids[0] != snap {
		t.Errorf("snapshots after capture --instance: %v, want only %s", ids, snap)
	}
	// CreateImage's answer lost (the AMI and its snapshot made, their ids unknown): what
	// carries the capture's tag is found and deleted; nothing is left.
	srv.InjectFault(ec2emu.Fault{Action: "CreateImage", AfterHandle: true, Code: "InvalidParameterValue", Status: 400})
	_, stderr = cli(t, 1, append([]string{"capture", "--from", "aws", "--instance", inst, filepath.Join(dir, "failed.raw")}, endpoints...)...)
	srv.ClearFaults()
	if !strings.Contains(stderr, "InvalidParameterValue") {
		t.Errorf("failed capture --instance: %s", stderr)
	}
	if after := srv.ImageIDs(); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Errorf("images after a failed capture --instance: %v, want %v", after, before)
	}
	if ids := srv.SnapshotIDs(); len(ids) != 1 || ids[0] != snap {
		t.Errorf("snapshots after a failed capture --instance: %v, want only %s", ids, snap)
	}

	// A failed registration: the snapshot Publish wrote is deleted again.
	srv.FailNext("RegisterImage", 1, "InvalidParameterValue", 400)
	_, stderr = cli(t, 1, append([]string{"push", "--to", "aws", src, "--name", "cli-fail"}, endpoints...)...)
	if !strings.Contains(stderr, "InvalidParameterValue") {
		t.Errorf("failed push: %s", stderr)
	}
	if ids := srv.SnapshotIDs(); len(ids) != 1 || ids[0] != snap {
		t.Errorf("snapshots after the failed push: %v, want only %s", ids, snap)
	}
	if ids := srv.ImageIDs(); len(ids) != 1 {
		t.Errorf("images after the failed push: %v", ids)
	}
	// --keep-snapshot --no-reboot: the intermediate AMI and its snapshot stay, the
	// instance is not rebooted.
	images, reboots := len(srv.ImageIDs()), srv.InstanceReboots(inst)
	stdout, _ = cli(t, 0, append([]string{"capture", "--from", "aws", "--instance", inst, "--keep-snapshot", "--no-reboot", "--json",
		filepath.Join(dir, "kept.raw")}, endpoints...)...)
	cres = nil
	if err := json.Unmarshal([]byte(stdout), &cres); err != nil {
		t.Fatal(err)
	}
	kept, _ := cres["intermediate_image"].(string)
	if cres["snapshot_kept"] != true || len(srv.ImageIDs()) != images+1 || !slices.Contains(srv.ImageIDs(), kept) {
		t.Errorf("--keep-snapshot: result %v, images %v", cres, srv.ImageIDs())
	}
	if n := srv.InstanceReboots(inst); n != reboots {
		t.Errorf("--no-reboot: the instance was rebooted (%d reboots, %d before)", n, reboots)
	}
	qemuImg(t, "compare", "-f", "raw", "-F", "raw", raw, filepath.Join(dir, "kept.raw"))

	// A failed capture leaves no output and no temporary file.
	missing := filepath.Join(dir, "missing.qcow2")
	cli(t, 1, append([]string{"capture", "--from", "aws", "--snapshot", "snap-0123456789abcdef0", "--format", "qcow2", missing}, endpoints...)...)
	if left, _ := filepath.Glob(filepath.Join(dir, "*missing*")); len(left) > 0 {
		t.Errorf("failed capture left %v", left)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
		t.Errorf("failed capture left %v", left)
	}
}

// TestPushEucalyptus: a qcow2 pushed to the Eucalyptus emulator as a bundle (the cloud's
// certificate fetched from its bootstrap service) is registered as an EMI whose unbundled
// disk holds exactly the image's bytes; a failed registration leaves no bundle object.
func TestPushEucalyptus(t *testing.T) {
	srv, user := ec2emu.StartProxiedEucalyptus(t)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretAccessKey)
	dir := t.TempDir()
	raw := filepath.Join(dir, "src.raw")
	makeRaw(t, raw, 12<<20)
	src := filepath.Join(dir, "src.qcow2")
	cli(t, 0, "convert", raw, src, "-O", "qcow2")
	args := []string{"push", "--to", "eucalyptus", src, "--region", srv.Region, "--endpoint", srv.EC2Endpoint,
		"--s3-endpoint", srv.S3Endpoint, "--bucket", "cli-bucket", "--user-key", user.KeyFile, "--user-cert", user.CertFile}
	stdout, stderr := cli(t, 0, append(args, "--name", "cli-emi")...)
	emi := strings.TrimSpace(stdout)
	if !strings.HasPrefix(emi, "emi-") && !strings.HasPrefix(emi, "ami-") {
		t.Fatalf("push printed %q\n%s", stdout, stderr)
	}
	disk, ok := srv.ImageDiskPath(emi)
	if !ok {
		t.Fatalf("image %s is not an available instance-store image\n%s", emi, stderr)
	}
	qemuImg(t, "compare", "-f", "raw", "-F", "raw", raw, disk)
	// Its record beside IMAGE: the conversion's record carried over and named, the EMI made.
	rec, err := provenance.Read(src + ".push-eucalyptus" + provenance.Suffix)
	if err != nil {
		t.Fatalf("push record: %v\n%s", err, stderr)
	}
	if in, _ := filepath.Abs(provenance.SidecarPath(src)); rec.Producer != "chromogenic push" || rec.Input != in ||
		!hasOutput(rec, "eucalyptus", "image", emi) {
		t.Errorf("push record: %+v", rec)
	}
	keys := srv.ObjectKeys("cli-bucket")
	if len(keys) == 0 {
		t.Fatal("no bundle objects in cli-bucket")
	}
	srv.FailNext("RegisterImage", 1, "InvalidParameterValue", 400)
	cli(t, 1, append(args, "--name", "cli-fail")...)
	if after := srv.ObjectKeys("cli-bucket"); strings.Join(after, " ") != strings.Join(keys, " ") {
		t.Errorf("bucket after the failed push: %v, want %v", after, keys)
	}
	if ids := srv.ImageIDs(); len(ids) != 1 || ids[0] != emi {
		t.Errorf("images %v, want [%s]", ids, emi)
	}
}
