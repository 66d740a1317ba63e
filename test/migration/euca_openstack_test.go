package migration

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/chroot"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2/bundle"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/openstacktest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/packertest"
	"github.com/chromogenic/packer-plugin-chromogenic/test/ec2emu"
)

// xenGuest makes the disk a Xen (Eucalyptus-era) guest: root on /dev/xvda1 in fstab and on
// the kernel command line, the console on hvc0 with a getty there.
func xenGuest(t *testing.T, image string) {
	t.Helper()
	d, err := chroot.Attach(image, false)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := d.Detach(); err != nil {
			t.Error(err)
		}
	}()
	g, err := chroot.MountGuest(d, filepath.Join(t.TempDir(), "mnt"), chroot.GuestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := g.UnmountAll(); err != nil {
			t.Error(err)
		}
	}()
	root := g.Mounts.Root
	edit := func(p string, re *regexp.Regexp, repl string) {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		out := re.ReplaceAllString(string(b), repl)
		if out == string(b) {
			t.Fatalf("%s: %s matched nothing", p, re)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	edit("etc/fstab", regexp.MustCompile(`(?m)^UUID=\S+(\s+/\s)`), "/dev/xvda1$1")
	edit("boot/extlinux/extlinux.conf", regexp.MustCompile(`(?m)^(\s*APPEND\s).*$`), "${1}root=/dev/xvda1 ro console=hvc0")
	wants := filepath.Join(root, "etc/systemd/system/getty.target.wants")
	if err := os.MkdirAll(wants, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/lib/systemd/system/serial-getty@.service", filepath.Join(wants, "serial-getty@hvc0.service")); err != nil {
		t.Fatal(err)
	}
}

// TestAccMigrateEucalyptusToOpenStack runs example/migrate-euca-to-openstack.pkr.hcl:
// Eucalyptus → OpenStack with Xen → KVM. The source is
// an instance-store EMI whose guest is set up as a Xen guest (root /dev/xvda1, console hvc0).
// chromogenic-ec2 downloads and unbundles its bundle with the user's key, a shell provisioner
// leaves a marker, chromogenic-clean target = "kvm" converts the guest, and
// chromogenic-openstack-import pushes it as qcow2 into project B of the all-in-one OpenStack.
// The Glance image holds the working copy's data: the marker, an fstab and a kernel command
// line without Xen device names or the Xen console; it boots in Nova (KVM's devices: virtio
// disk, serial console ttyS0) to a login prompt. The source EMI's bundle is untouched.
func TestAccMigrateEucalyptusToOpenStack(t *testing.T) {
	accOnly(t)
	env := packertest.Setup(t)
	clouds := openstacktest.CloudsFile(t)
	b := openstacktest.Connect(t, "aio-b")
	srv := migEmulator(t, ec2emu.Options{Dialect: ec2emu.Eucalyptus})
	source := migSample(t)
	xenGuest(t, source)
	user, err := bundle.NewIdentity("migration-user")
	if err != nil {
		t.Fatal(err)
	}
	emi, err := srv.BundledImage("xen-guest", source, "images", user)
	if err != nil {
		t.Fatal(err)
	}
	keys := t.TempDir()
	for name, data := range map[string][]byte{"euca-pk.pem": user.KeyPEM, "euca-cert.pem": user.CertPEM, "cloud-cert.pem": srv.CloudCertPEM()} {
		if err := os.WriteFile(filepath.Join(keys, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	srcObjects := srv.ObjectKeys("images")

	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	name := uniqueName("mig-euca-os")
	buildExample(t, env, dir, "migrate-euca-to-openstack.pkr.hcl", 25*time.Minute, map[string]string{
		"ec2_endpoint": srv.EC2Endpoint, "s3_endpoint": srv.S3Endpoint, "keys_dir": keys, "bucket": "packer",
		"source_emi": emi, "os_cloud": "aio-b", "clouds_file": clouds, "image_name": name,
		"output_directory": out, "keep_working_copy": "true",
	})

	var id string
	for _, img := range openstacktest.ListImages(t, b) {
		if img.Name != name {
			continue
		}
		id = img.ID
		t.Cleanup(func() { openstacktest.DeleteImage(t, b, img.ID) })
		if img.Status != "active" || img.DiskFormat != "qcow2" || img.Properties["migrated_from"] != "eucalyptus" {
			t.Errorf("Glance image: status %s format %s properties %v", img.Status, img.DiskFormat, img.Properties)
		}
	}
	if id == "" {
		t.Fatalf("image %s not in project B", name)
	}
	// The published image boots in Nova to a login prompt, while the data is checked here.
	booted := openstacktest.GoBootToLogin(t, b, name+"-boot", id, openstacktest.BootTimeout)
	work := workingCopy(t, out)
	got := filepath.Join(dir, "glance.qcow2")
	openstacktest.DownloadImage(t, b, id, got)
	qemuCompare(t, work, "raw", got, "qcow2")

	files := packertest.GuestFiles(t, work, "/etc/chromogenic-migration", "/etc/fstab", "/boot/extlinux/extlinux.conf")
	if want := "migrated from Eucalyptus " + emi + "\n"; string(files["/etc/chromogenic-migration"]) != want {
		t.Errorf("/etc/chromogenic-migration = %q, want %q", files["/etc/chromogenic-migration"], want)
	}
	fstab, ext := string(files["/etc/fstab"]), string(files["/boot/extlinux/extlinux.conf"])
	if strings.Contains(fstab, "xvd") || !regexp.MustCompile(`(?m)^UUID=\S+\s+/\s`).MatchString(fstab) {
		t.Errorf("fstab not converted:\n%s", fstab)
	}
	if strings.Contains(ext, "hvc0") || strings.Contains(ext, "xvd") || !strings.Contains(ext, "console=ttyS0") {
		t.Errorf("kernel command line not converted:\n%s", ext)
	}
	if got := srv.ObjectKeys("images"); strings.Join(got, ",") != strings.Join(srcObjects, ",") {
		t.Errorf("the source bundle changed: %v, was %v", got, srcObjects)
	}
	booted()
}
