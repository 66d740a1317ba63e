package chaining

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2/bundle"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// awsSource registers an AMI (EBS direct upload + RegisterImage) from an AMI.
var awsSource = ec2Source(ec2emu.DefaultRegion, "custom_endpoint_ebs = var.ebs_endpoint", "")

var awsImport = ec2Import(ec2emu.DefaultRegion, "custom_endpoint_ebs = var.ebs_endpoint", "")

// eucaSource registers an EMI (bundle in bucket "built" + RegisterImage) from an
// instance-store EMI.
var eucaSource = ec2Source("eucalyptus", "custom_endpoint_s3  = var.s3_endpoint", eucaBlock("built"))

var eucaImport = ec2Import("eucalyptus", "custom_endpoint_s3  = var.s3_endpoint", eucaBlock("imported"))

// ec2Source is the chains' chromogenic-ec2 source in region: endpoint is its custom endpoint
// besides EC2's (EBS on AWS, S3 on Eucalyptus), blocks any blocks it ends with.
func ec2Source(region, endpoint, blocks string) string {
	return `
source "chromogenic-ec2" "chain" {
  ` + ec2Access + `
  region              = "` + region + `"
  custom_endpoint_ec2 = var.ec2_endpoint
  ` + endpoint + `
  source_ami          = var.source
  ami_name            = "${var.name}-built"
  root_partition      = 1
  state_timeout       = "2m"
  output_directory    = "${var.out}/work"
  mount_path          = "${var.out}/mnt"
` + blocks + `}
`
}

// ec2Import is the chains' chromogenic-ec2-import post-processor (a format for chains: %[1]s
// is the chain's name), with the same region, endpoint and blocks as ec2Source's.
func ec2Import(region, endpoint, blocks string) string {
	return `
    post-processor "chromogenic-ec2-import" {
      ` + ec2Access + `
      region              = "` + region + `"
      custom_endpoint_ec2 = var.ec2_endpoint
      ` + endpoint + `
      ami_name            = "${var.name}-%[1]s"
      state_timeout       = "2m"
      keep_input_artifact = var.keep
` + blocks + `    }`
}

// eucaBlock is a eucalyptus block: the user's and the cloud's keys from var.keys_dir, bundles
// in bucket.
func eucaBlock(bucket string) string {
	return `  eucalyptus {
    user_private_key_file = "${var.keys_dir}/euca-pk.pem"
    user_cert_file        = "${var.keys_dir}/euca-cert.pem"
    cloud_cert_file       = "${var.keys_dir}/cloud-cert.pem"
    bucket                = "` + bucket + `"
  }
`
}

// buckets are every bucket the Eucalyptus builds use: the source EMI's, the builder's and
// the imports'.
var buckets = []string{"images", "built", "imported"}

// emuState is what an emulator holds.
type emuState struct {
	images, snapshots, volumes []string
	objects                    map[string][]string // by bucket
}

func stateOf(srv *ec2emu.Server) emuState {
	s := emuState{images: srv.ImageIDs(), snapshots: srv.SnapshotIDs(), volumes: srv.VolumeIDs(), objects: map[string][]string{}}
	for _, b := range buckets {
		s.objects[b] = srv.ObjectKeys(b)
	}
	return s
}

func describeImages(t *testing.T, srv *ec2emu.Server) map[string]types.Image {
	t.Helper()
	c := sdkec2.NewFromConfig(srv.AWSConfig(), func(o *sdkec2.Options) { o.BaseEndpoint = aws.String(srv.EC2Endpoint) })
	out, err := c.DescribeImages(t.Context(), &sdkec2.DescribeImagesInput{Owners: []string{"self"}})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]types.Image{}
	for _, im := range out.Images {
		m[aws.ToString(im.ImageId)] = im
	}
	return m
}

// checkEmulator checks an emulator after a build against its state before: the images there
// before are still there and available (the source, rule 5); the new images are exactly
// one available image of each wanted name; on AWS the new snapshots are exactly theirs, all
// completed; on Eucalyptus the buckets "built" and "imported" hold exactly their bundles
// (the builder's in "built"), the source bundle is unchanged and no snapshot is new; no
// volume and no multipart upload is left. An image named in maybe may be missing, but when
// it is there it is checked like a wanted one.
func checkEmulator(t *testing.T, srv *ec2emu.Server, before emuState, euca bool, want, maybe []string) {
	t.Helper()
	all := describeImages(t, srv)
	for _, id := range before.images {
		if im, ok := all[id]; !ok || im.State != types.ImageStateAvailable {
			t.Errorf("image %s of before the build: %v", id, im.State)
		}
	}
	byName := map[string][]types.Image{}
	for id, im := range all {
		if !slices.Contains(before.images, id) {
			byName[aws.ToString(im.Name)] = append(byName[aws.ToString(im.Name)], im)
		}
	}
	var snaps []string
	objects := map[string][]string{"built": nil, "imported": nil}
	for _, name := range append(slices.Clone(want), maybe...) {
		ims := byName[name]
		delete(byName, name)
		if len(ims) == 0 && slices.Contains(maybe, name) {
			continue
		}
		if len(ims) != 1 {
			t.Errorf("%d images named %s, want 1", len(ims), name)
			continue
		}
		im := ims[0]
		if im.State != types.ImageStateAvailable {
			t.Errorf("image %s (%s) is %s, want available", name, aws.ToString(im.ImageId), im.State)
		}
		if euca {
			bucket, key, _ := strings.Cut(aws.ToString(im.ImageLocation), "/")
			prefix := strings.TrimSuffix(key, ".manifest.xml")
			var keys []string
			for _, k := range srv.ObjectKeys(bucket) {
				if strings.HasPrefix(k, prefix+".") {
					keys = append(keys, k)
				}
			}
			if len(keys) < 2 {
				t.Errorf("EMI %s: bundle %s has objects %v, want the manifest and its parts", name, aws.ToString(im.ImageLocation), keys)
			}
			if wantBucket := map[bool]string{true: "built", false: "imported"}[strings.HasSuffix(name, "-built")]; bucket != wantBucket {
				t.Errorf("EMI %s registered from bucket %s, want %s", name, bucket, wantBucket)
			}
			objects[bucket] = append(objects[bucket], keys...)
			continue
		}
		if len(im.BlockDeviceMappings) == 0 || im.BlockDeviceMappings[0].Ebs == nil {
			t.Errorf("AMI %s has no EBS root: %+v", name, im.BlockDeviceMappings)
			continue
		}
		snap := aws.ToString(im.BlockDeviceMappings[0].Ebs.SnapshotId)
		if info, ok := srv.Snapshot(snap); !ok || info.State != "completed" {
			t.Errorf("snapshot %s of AMI %s: %+v (exists: %v), want completed", snap, name, info, ok)
		}
		snaps = append(snaps, snap)
	}
	for name, ims := range byName {
		for _, im := range ims {
			t.Errorf("unexpected image of the build: %s %s (%s)", aws.ToString(im.ImageId), name, im.State)
		}
	}
	var newSnaps []string
	for _, id := range srv.SnapshotIDs() {
		if !slices.Contains(before.snapshots, id) {
			newSnaps = append(newSnaps, id)
		}
	}
	sort.Strings(snaps)
	if !slices.Equal(newSnaps, snaps) {
		info := map[string]ec2emu.SnapshotInfo{}
		for _, id := range newSnaps {
			info[id], _ = srv.Snapshot(id)
		}
		t.Errorf("new snapshots %v, want those of the images: %v", info, snaps)
	}
	for _, id := range before.snapshots {
		if _, ok := srv.Snapshot(id); !ok {
			t.Errorf("snapshot %s of before the build is gone", id)
		}
	}
	if v := srv.VolumeIDs(); !slices.Equal(v, before.volumes) {
		t.Errorf("volumes %v, before the build %v", v, before.volumes)
	}
	if got := srv.ObjectKeys("images"); !slices.Equal(got, before.objects["images"]) {
		t.Errorf("the source bundle changed: %v, was %v", got, before.objects["images"])
	}
	for _, bucket := range []string{"built", "imported"} {
		want := objects[bucket]
		sort.Strings(want)
		if got := srv.ObjectKeys(bucket); !slices.Equal(got, want) {
			t.Errorf("objects in bucket %s: %v, want the bundles of the images: %v", bucket, got, want)
		}
		if n := srv.MultipartUploads(bucket); n != 0 {
			t.Errorf("%d multipart uploads left in bucket %s", n, bucket)
		}
	}
}

// names are the cloud images a finished build has: the builder's and both imports'.
func (b *build) names() []string {
	return []string{b.name + "-built", b.name + "-chain2", b.name + "-chain3"}
}

func awsArgs(srv *ec2emu.Server, ami string) []string {
	return []string{"source", ami, "ec2_endpoint", srv.EC2Endpoint, "ebs_endpoint", srv.EBSEndpoint}
}

// awsCloud starts an AWS-dialect emulator holding the tiny guest as an AMI.
func awsCloud(t *testing.T, opts ec2emu.Options) (*ec2emu.Server, string) {
	t.Helper()
	srv := ec2emu.Start(t, opts)
	ami, err := srv.AddImage(ec2emu.Image{Name: "tiny", RootDisk: tiny(t)})
	if err != nil {
		t.Fatal(err)
	}
	return srv, ami
}

// rootSnapshotOf is the root snapshot of the image named name.
func rootSnapshotOf(t *testing.T, srv *ec2emu.Server, name string) string {
	t.Helper()
	for _, im := range describeImages(t, srv) {
		if aws.ToString(im.Name) == name && len(im.BlockDeviceMappings) > 0 && im.BlockDeviceMappings[0].Ebs != nil {
			return aws.ToString(im.BlockDeviceMappings[0].Ebs.SnapshotId)
		}
	}
	t.Fatalf("no image %s", name)
	return ""
}

// newPendingSnapshot returns a snapshot made since before that is being written.
func newPendingSnapshot(srv *ec2emu.Server, before emuState) string {
	for _, id := range srv.SnapshotIDs() {
		if info, ok := srv.Snapshot(id); ok && info.State == "pending" && !slices.Contains(before.snapshots, id) {
			return id
		}
	}
	return ""
}

// TestAccChainingEC2: chromogenic-ec2 registering an AMI in the AWS dialect of the emulator,
// importing into the same emulator; and the same build interrupted in chain 2's import and
// in the builder.
func TestAccChainingEC2(t *testing.T) {
	accOnly(t)
	t.Parallel()
	tpl := chains("chromogenic-ec2", awsSource, awsImport)
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keep=%t", keep), func(t *testing.T) {
			t.Parallel()
			srv, ami := awsCloud(t, ec2emu.Options{})
			before := stateOf(srv)
			b := newBuild(t, "ec2", keep, awsArgs(srv, ami)...)
			res := b.run(t, tpl)
			checkEmulator(t, srv, before, false, b.names(), nil)
			b.checkLocal(t)
			// Chain 2 pushed the builder's working copy as a delta onto the builder's own
			// snapshot (its record names it): no block written.
			built, chain2 := rootSnapshotOf(t, srv, b.name+"-built"), rootSnapshotOf(t, srv, b.name+"-chain2")
			info, _ := srv.Snapshot(chain2)
			if info.ParentID != built || !strings.Contains(res.Output, "Pushed as a delta onto "+built+" (0 blocks written)") {
				t.Errorf("chain 2's snapshot %+v: want a delta onto the builder's %s with no block written:\n%s", info, built, res.Output)
			}
		})
	}

	// SIGINT while chain 2's import waits for its AMI: the import's AMI and snapshot go, the
	// builder's AMI and snapshot and chain 1's files stay (rule 4), nothing is held. Chain 2
	// imports the builder's working copy, whose record names the builder's snapshot of the
	// same bytes: a delta push onto it that writes no block, so the window is the AMI's
	// pending time. Packer runs chain 3 after the interrupt all the same, with a context the
	// plugin SDK may never cancel (a Cancel before PostProcess starts is dropped): the
	// post-processors watch the signal themselves (internal/interrupt), so chain 3 writes and
	// publishes nothing.
	t.Run("interrupt-import", func(t *testing.T) {
		t.Parallel()
		// New images stay pending 5 s: the builder's and the import's.
		srv, ami := awsCloud(t, ec2emu.Options{ImageDelay: 5 * time.Second})
		before := stateOf(srv)
		b := newBuild(t, "ec2-int-import", false, awsArgs(srv, ami)...)
		run := b.start(t, tpl)
		run.Until(t, "chain 2's import registered its AMI", 5*time.Minute, func() bool { return srv.CallCount("RegisterImage") > 1 })
		time.Sleep(500 * time.Millisecond)
		run.Interrupt(t, 2*time.Minute)
		t.Logf("packer's last lines:\n%s", lastLines(run.Output.String(), 8))
		checkEmulator(t, srv, before, false, []string{b.name + "-built"}, nil)
		if f := files(filepath.Join(b.out, "chain1")); len(f) != 1 {
			t.Errorf("chain 1's convert files: %v, want its qcow2", f)
		}
		if f := files(filepath.Join(b.out, "chain3")); len(f) != 0 {
			t.Errorf("chain 3 ran after the interrupt: files %v", f)
		}
		b.checkHeld(t)
	})

	// SIGINT while the builder writes its snapshot (nothing published yet): nothing of the
	// build is in the emulator, the working copy is gone, nothing is held.
	t.Run("interrupt-builder", func(t *testing.T) {
		t.Parallel()
		srv, ami := awsCloud(t, ec2emu.Options{})
		srv.InjectFault(ec2emu.Fault{Service: "ebs", Action: "PutSnapshotBlock", Times: -1, Delay: 2 * time.Second})
		before := stateOf(srv)
		b := newBuild(t, "ec2-int-builder", false, awsArgs(srv, ami)...)
		run := b.start(t, tpl)
		run.Until(t, "the builder's snapshot being written", 5*time.Minute, func() bool { return newPendingSnapshot(srv, before) != "" })
		time.Sleep(500 * time.Millisecond)
		run.Interrupt(t, 2*time.Minute)
		checkEmulator(t, srv, before, false, nil, nil)
		if n := srv.CallCount("RegisterImage"); n != 0 {
			t.Errorf("RegisterImage called %d times", n)
		}
		if f := files(filepath.Join(b.out, "work")); len(f) != 0 {
			t.Errorf("the interrupted builder left %v", f)
		}
		b.checkHeld(t)
	})
}

// TestAccChainingEucalyptus: chromogenic-ec2 registering an EMI (a bundle) in the Eucalyptus
// dialect of the emulator from an instance-store EMI, importing into the same emulator.
func TestAccChainingEucalyptus(t *testing.T) {
	accOnly(t)
	t.Parallel()
	tpl := chains("chromogenic-ec2", eucaSource, eucaImport)
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keep=%t", keep), func(t *testing.T) {
			t.Parallel()
			srv, args := eucaCloud(t)
			before := stateOf(srv)
			b := newBuild(t, "euca", keep, args...)
			b.run(t, tpl)
			checkEmulator(t, srv, before, true, b.names(), nil)
			b.checkLocal(t)
		})
	}

	// SIGINT while a provisioner runs in the builder (the EMI's bundle is home, the guest
	// mounted, nothing bundled or registered yet): nothing of the build is in the cloud (no
	// image, no bundle object, no multipart upload), the working copy is gone, nothing is held.
	t.Run("interrupt-builder", func(t *testing.T) {
		t.Parallel()
		srv, args := eucaCloud(t)
		before := stateOf(srv)
		b := newBuild(t, "euca-int-builder", false, args...)
		run := b.start(t, tpl, "hook", "echo CHAINING-HOOK-$((6*7)); sleep 600")
		run.Until(t, "the provisioner started", 5*time.Minute, func() bool { return strings.Contains(run.Output.String(), "CHAINING-HOOK-42") })
		if len(chroot.MountedUnder(b.out)) == 0 {
			run.Kill()
			t.Fatalf("the guest is not mounted under %s while the provisioner runs", b.out)
		}
		run.Interrupt(t, 2*time.Minute)
		checkEmulator(t, srv, before, true, nil, nil)
		if n := srv.CallCount("RegisterImage"); n != 0 {
			t.Errorf("RegisterImage called %d times", n)
		}
		if f := files(filepath.Join(b.out, "work")); len(f) != 0 {
			t.Errorf("the interrupted builder left %v", f)
		}
		b.checkHeld(t)
	})
}

// eucaCloud starts a Eucalyptus emulator holding the tiny guest as an instance-store EMI
// bundled for a new user, writes that user's keys, and returns the build's variables.
func eucaCloud(t *testing.T) (*ec2emu.Server, []string) {
	t.Helper()
	srv := ec2emu.Start(t, ec2emu.Options{Dialect: ec2emu.Eucalyptus})
	user, err := bundle.NewIdentity("packer-user")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.RegisterUserCertificate(user.CertPEM); err != nil {
		t.Fatal(err)
	}
	keys := t.TempDir()
	for name, data := range map[string][]byte{"euca-pk.pem": user.KeyPEM, "euca-cert.pem": user.CertPEM, "cloud-cert.pem": srv.CloudCertPEM()} {
		if err := os.WriteFile(filepath.Join(keys, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	emi, err := srv.BundledImage("tiny", tiny(t), "images", user)
	if err != nil {
		t.Fatal(err)
	}
	return srv, []string{"source", emi, "ec2_endpoint", srv.EC2Endpoint, "s3_endpoint", srv.S3Endpoint, "keys_dir", keys}
}
