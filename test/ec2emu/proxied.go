package ec2emu

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2/bundle"
)

// EucalyptusUser is a user's X.509 identity, registered with the emulator and written to the
// files a template's eucalyptus block names (user_private_key_file, user_cert_file).
type EucalyptusUser struct {
	*bundle.Identity
	KeyFile, CertFile string
}

// StartProxiedEucalyptus starts a Eucalyptus emulator reached through an endpoint that does
// not end in /services/compute (the compute service at /compute, as a front proxy or the
// cloud's DNS service names put it), with a registered user, and clears the AWS environment
// (credentials, profile, region, config files, instance metadata) so that only the test's own
// settings reach the SDK.
func StartProxiedEucalyptus(t testing.TB) (*Server, EucalyptusUser) {
	t.Helper()
	srv := Start(t, Options{Dialect: Eucalyptus, ComputePath: "/compute"})
	if strings.HasSuffix(srv.EC2Endpoint, "/services/compute") {
		t.Fatalf("endpoint %s looks like a cloud controller", srv.EC2Endpoint)
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	id, err := bundle.NewIdentity("packer-user")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.RegisterUserCertificate(id.CertPEM); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	user := EucalyptusUser{Identity: id, KeyFile: filepath.Join(dir, "pk.pem"), CertFile: filepath.Join(dir, "cert.pem")}
	for p, b := range map[string][]byte{user.KeyFile: id.KeyPEM, user.CertFile: id.CertPEM} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return srv, user
}
