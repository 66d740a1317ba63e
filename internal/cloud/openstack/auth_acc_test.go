package openstack_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/openstacktest"
	"github.com/chromogenic/packer-plugin-chromogenic/internal/testtier"
)

// openrcVars are the variables an openrc may set; each test starts from none of them.
var openrcVars = []string{"OS_CLOUD", "OS_CLIENT_CONFIG_FILE", "OS_AUTH_URL", "OS_AUTH_TYPE", "OS_AUTH_PLUGIN",
	"OS_USERNAME", "OS_USER_ID", "OS_PASSWORD", "OS_TOKEN", "OS_AUTH_TOKEN", "OS_PROJECT_NAME", "OS_TENANT_NAME",
	"OS_PROJECT_ID", "OS_TENANT_ID", "OS_USER_DOMAIN_NAME", "OS_USER_DOMAIN_ID", "OS_PROJECT_DOMAIN_NAME",
	"OS_PROJECT_DOMAIN_ID", "OS_DOMAIN_NAME", "OS_DOMAIN_ID", "OS_DEFAULT_DOMAIN", "OS_APPLICATION_CREDENTIAL_ID",
	"OS_APPLICATION_CREDENTIAL_NAME", "OS_APPLICATION_CREDENTIAL_SECRET", "OS_SYSTEM_SCOPE", "OS_TRUST_ID",
	"OS_REGION_NAME", "OS_INTERFACE", "OS_ENDPOINT_TYPE", "OS_CACERT", "OS_CERT", "OS_KEY", "OS_INSECURE",
	"OS_IDENTITY_API_VERSION"}

// aioUser is the aio-a cloud of the all-in-one OpenStack, read from its clouds.yaml, with
// the environment emptied of OS_* variables (and no clouds.yaml in the working directory).
func aioUser(t *testing.T) (authURL, user, password, project, region string) {
	t.Helper()
	testtier.Acceptance(t, "the all-in-one OpenStack cloud")
	file := openstacktest.CloudsFile(t)
	for _, v := range openrcVars {
		t.Setenv(v, "")
	}
	t.Chdir(t.TempDir())
	c, err := cloud.LoadCloud("aio-a", file)
	if err != nil {
		t.Fatal(err)
	}
	a := c.AuthInfo
	if a.UserDomainName != "Default" || a.ProjectDomainName != "Default" {
		t.Fatalf("aio-a is expected in the Default domain: %+v", a)
	}
	return a.AuthURL, a.Username, a.Password, a.ProjectName, c.RegionName
}

func setenv(t *testing.T, kv ...string) {
	t.Helper()
	for i := 0; i+1 < len(kv); i += 2 {
		t.Setenv(kv[i], kv[i+1])
	}
}

// listImages authenticates from the environment alone and lists the project's images.
func listImages(t *testing.T) error {
	t.Helper()
	cl, err := cloud.Connect(t.Context(), cloud.Auth{})
	if err != nil {
		return err
	}
	pages, err := images.List(cl.Image, images.ListOpts{Limit: 5}).AllPages(t.Context())
	if err != nil {
		return err
	}
	_, err = images.ExtractImages(pages)
	return err
}

// openrcListsImages sets what every openrc sets for the all-in-one's user (Keystone v3,
// project by name, region) and the variables in extra, then lists images from the
// environment alone.
func openrcListsImages(t *testing.T, extra ...string) {
	t.Helper()
	authURL, user, pw, project, region := aioUser(t)
	setenv(t, "OS_AUTH_URL", authURL, "OS_IDENTITY_API_VERSION", "3", "OS_USERNAME", user, "OS_PASSWORD", pw,
		"OS_PROJECT_NAME", project, "OS_TENANT_NAME", project, "OS_REGION_NAME", region)
	setenv(t, extra...)
	if err := listImages(t); err != nil {
		t.Fatal(err)
	}
}

// devstack's openrc (devstack/openrc): project by name, user and project domains by ID.
func TestAccOpenrcDevstack(t *testing.T) {
	openrcListsImages(t, "OS_AUTH_TYPE", "password", "OS_USER_DOMAIN_ID", "default", "OS_PROJECT_DOMAIN_ID", "default",
		"OS_VOLUME_API_VERSION", "3", "OS_CACERT", "")
}

// kolla-ansible's public-openrc.sh: domains by name, the interface named twice.
func TestAccOpenrcKolla(t *testing.T) {
	openrcListsImages(t, "OS_AUTH_PLUGIN", "password", "OS_USER_DOMAIN_NAME", "Default", "OS_PROJECT_DOMAIN_NAME", "Default",
		"OS_INTERFACE", "public", "OS_ENDPOINT_TYPE", "publicURL")
}

// A wrong password: the error says what Keystone said, with the HTTP status.
func TestAccOpenrcWrongPassword(t *testing.T) {
	authURL, user, _, project, region := aioUser(t)
	setenv(t, "OS_AUTH_URL", authURL, "OS_USERNAME", user, "OS_PASSWORD", "not-the-password",
		"OS_PROJECT_NAME", project, "OS_USER_DOMAIN_NAME", "Default", "OS_PROJECT_DOMAIN_NAME", "Default", "OS_REGION_NAME", region)
	err := listImages(t)
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "The request you have made requires authentication") {
		t.Fatalf("want Keystone's 401 message, got %v", err)
	}
	t.Log(err)
}

// OS_CACERT against Keystone behind TLS (an in-process reverse proxy with a certificate of
// a CA made here); without it the certificate error shows, at once; OS_INSECURE=true passes.
func TestAccOpenrcCACert(t *testing.T) {
	authURL, user, pw, project, region := aioUser(t)
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	ca, cert := newCA(t)
	front := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host}))
	front.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	front.StartTLS()
	defer front.Close()
	tlsURL := front.URL + u.Path
	setenv(t, "OS_AUTH_URL", tlsURL, "OS_USERNAME", user, "OS_PASSWORD", pw, "OS_PROJECT_NAME", project,
		"OS_USER_DOMAIN_NAME", "Default", "OS_PROJECT_DOMAIN_NAME", "Default", "OS_REGION_NAME", region)

	start := time.Now()
	err = listImages(t)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without OS_CACERT: want a certificate error, got %v", err)
	}
	t.Log(err)
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("a certificate error was retried for %s", d)
	}
	t.Setenv("OS_CACERT", ca)
	if err := listImages(t); err != nil {
		t.Fatalf("with OS_CACERT: %v", err)
	}
	t.Setenv("OS_CACERT", "")
	t.Setenv("OS_INSECURE", "true")
	if err := listImages(t); err != nil {
		t.Fatalf("with OS_INSECURE=true: %v", err)
	}
}

// newCA makes a CA and a certificate it signs for 127.0.0.1; it returns the CA's PEM file.
func newCA(t *testing.T) (string, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "chromogenic test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
