package openstack

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
)

// osVars are every variable the openstack client reads; clearEnv empties them so that the
// developer's own openrc never leaks into a test.
var osVars = []string{"OS_CLOUD", "OS_CLIENT_CONFIG_FILE", "OS_AUTH_URL", "OS_AUTH_TYPE", "OS_AUTH_PLUGIN",
	"OS_USERNAME", "OS_USER_ID", "OS_PASSWORD", "OS_TOKEN", "OS_AUTH_TOKEN", "OS_PROJECT_NAME", "OS_TENANT_NAME",
	"OS_PROJECT_ID", "OS_TENANT_ID", "OS_USER_DOMAIN_NAME", "OS_USER_DOMAIN_ID", "OS_PROJECT_DOMAIN_NAME",
	"OS_PROJECT_DOMAIN_ID", "OS_DOMAIN_NAME", "OS_DOMAIN_ID", "OS_DEFAULT_DOMAIN", "OS_APPLICATION_CREDENTIAL_ID",
	"OS_APPLICATION_CREDENTIAL_NAME", "OS_APPLICATION_CREDENTIAL_SECRET", "OS_SYSTEM_SCOPE", "OS_TRUST_ID",
	"OS_REGION_NAME", "OS_INTERFACE", "OS_ENDPOINT_TYPE", "OS_CACERT", "OS_CERT", "OS_KEY", "OS_INSECURE",
	"OS_IDENTITY_API_VERSION"}

func clearEnv(t *testing.T) {
	t.Helper()
	for _, v := range osVars {
		t.Setenv(v, "")
	}
	t.Chdir(t.TempDir()) // no ./clouds.yaml
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
}

func setEnv(t *testing.T, kv ...string) {
	t.Helper()
	for i := 0; i+1 < len(kv); i += 2 {
		t.Setenv(kv[i], kv[i+1])
	}
}

func options(t *testing.T, a Auth) (gophercloud.AuthOptions, gophercloud.EndpointOpts) {
	t.Helper()
	ao, eo, _, err := a.Options()
	if err != nil {
		t.Fatal(err)
	}
	// Whatever was resolved must make a valid Keystone v3 request.
	if _, err := ao.ToTokenV3CreateMap(nil); err != nil {
		t.Fatalf("token request: %v (%+v)", err, ao)
	}
	return ao, eo
}

// devstack's openrc: project and domains, the domains by ID.
func TestEnvDevstackOpenrc(t *testing.T) {
	clearEnv(t)
	setEnv(t, "OS_AUTH_URL", "http://10.0.0.5/identity", "OS_AUTH_TYPE", "password", "OS_IDENTITY_API_VERSION", "3",
		"OS_USERNAME", "demo", "OS_PASSWORD", "secret", "OS_PROJECT_NAME", "demo", "OS_TENANT_NAME", "demo",
		"OS_USER_DOMAIN_ID", "default", "OS_PROJECT_DOMAIN_ID", "default", "OS_REGION_NAME", "RegionOne")
	ao, eo := options(t, Auth{})
	if ao.IdentityEndpoint != "http://10.0.0.5/identity" || ao.Username != "demo" || ao.Password != "secret" || ao.DomainID != "default" {
		t.Errorf("auth %+v", ao)
	}
	if s := ao.Scope; s == nil || s.ProjectName != "demo" || s.DomainID != "default" || s.DomainName != "" {
		t.Errorf("scope %+v", ao.Scope)
	}
	if eo.Region != "RegionOne" || eo.Availability != gophercloud.AvailabilityPublic {
		t.Errorf("endpoint %+v", eo)
	}
}

// kolla's admin-openrc: the domains by name, the internal interface.
func TestEnvKollaOpenrc(t *testing.T) {
	clearEnv(t)
	setEnv(t, "OS_AUTH_URL", "http://10.0.0.10:5000", "OS_AUTH_PLUGIN", "password", "OS_IDENTITY_API_VERSION", "3",
		"OS_USERNAME", "admin", "OS_PASSWORD", "pw", "OS_PROJECT_NAME", "admin", "OS_TENANT_NAME", "admin",
		"OS_USER_DOMAIN_NAME", "Default", "OS_PROJECT_DOMAIN_NAME", "Default", "OS_REGION_NAME", "RegionOne",
		"OS_INTERFACE", "internal", "OS_ENDPOINT_TYPE", "internalURL")
	ao, eo := options(t, Auth{})
	if ao.Username != "admin" || ao.DomainName != "Default" || ao.DomainID != "" {
		t.Errorf("auth %+v", ao)
	}
	if s := ao.Scope; s == nil || s.ProjectName != "admin" || s.DomainName != "Default" || s.DomainID != "" {
		t.Errorf("scope %+v", ao.Scope)
	}
	if eo.Region != "RegionOne" || eo.Availability != gophercloud.AvailabilityInternal {
		t.Errorf("endpoint %+v", eo)
	}
}

// User and project by ID need no domain; OS_DOMAIN_* stands for both domains; without any
// domain, names are looked up in "default" (OS_DEFAULT_DOMAIN when set).
func TestEnvIDsAndDomains(t *testing.T) {
	clearEnv(t)
	setEnv(t, "OS_AUTH_URL", "http://k:5000/v3", "OS_USER_ID", "u-1", "OS_PASSWORD", "pw", "OS_PROJECT_ID", "p-1")
	ao, _ := options(t, Auth{})
	if ao.UserID != "u-1" || ao.Username != "" || ao.Scope == nil || ao.Scope.ProjectID != "p-1" || ao.Scope.ProjectName != "" {
		t.Errorf("IDs: %+v scope %+v", ao, ao.Scope)
	}

	clearEnv(t)
	setEnv(t, "OS_AUTH_URL", "http://k:5000/v3", "OS_USERNAME", "u", "OS_PASSWORD", "pw", "OS_PROJECT_NAME", "p", "OS_DOMAIN_NAME", "corp")
	ao, _ = options(t, Auth{})
	if ao.DomainName != "corp" || ao.Scope == nil || ao.Scope.DomainName != "corp" {
		t.Errorf("OS_DOMAIN_NAME: %+v scope %+v", ao, ao.Scope)
	}

	clearEnv(t)
	setEnv(t, "OS_AUTH_URL", "http://k:5000/v3", "OS_USERNAME", "u", "OS_PASSWORD", "pw", "OS_PROJECT_NAME", "p", "OS_DOMAIN_ID", "d-9")
	ao, _ = options(t, Auth{})
	if ao.DomainID != "d-9" || ao.Scope == nil || ao.Scope.DomainID != "d-9" {
		t.Errorf("OS_DOMAIN_ID: %+v scope %+v", ao, ao.Scope)
	}

	clearEnv(t)
	setEnv(t, "OS_AUTH_URL", "http://k:5000/v3", "OS_USERNAME", "u", "OS_PASSWORD", "pw", "OS_PROJECT_NAME", "p")
	ao, _ = options(t, Auth{})
	if ao.DomainID != "default" || ao.Scope == nil || ao.Scope.DomainID != "default" {
		t.Errorf("no domain: %+v scope %+v", ao, ao.Scope)
	}
	t.Setenv("OS_DEFAULT_DOMAIN", "d-7")
	ao, _ = options(t, Auth{})
	if ao.DomainID != "d-7" || ao.Scope == nil || ao.Scope.DomainID != "d-7" {
		t.Errorf("OS_DEFAULT_DOMAIN: %+v scope %+v", ao, ao.Scope)
	}
}

// Application credentials (Horizon's openrc for them): no password, no scope; a leftover
// user or project of another openrc does not get in the way.
func TestEnvApplicationCredential(t *testing.T) {
	clearEnv(t)
	setEnv(t, "OS_AUTH_URL", "http://k:5000/v3", "OS_AUTH_TYPE", "v3applicationcredential",
		"OS_APPLICATION_CREDENTIAL_ID", "ac-1", "OS_APPLICATION_CREDENTIAL_SECRET", "s3cr3t",
		"OS_USERNAME", "leftover", "OS_PROJECT_NAME", "leftover", "OS_PASSWORD", "leftover")
	ao, _ := options(t, Auth{})
	if ao.ApplicationCredentialID != "ac-1" || ao.ApplicationCredentialSecret != "s3cr3t" || ao.Password != "" || ao.Username != "" || ao.Scope != nil {
		t.Errorf("by ID: %+v scope %+v", ao, ao.Scope)
	}

	clearEnv(t)
	setEnv(t, "OS_AUTH_URL", "http://k:5000/v3", "OS_APPLICATION_CREDENTIAL_NAME", "builder",
		"OS_APPLICATION_CREDENTIAL_SECRET", "s3cr3t", "OS_USERNAME", "u", "OS_USER_DOMAIN_NAME", "corp")
	ao, _ = options(t, Auth{})
	if ao.ApplicationCredentialName != "builder" || ao.Username != "u" || ao.DomainName != "corp" || ao.Scope != nil {
		t.Errorf("by name: %+v scope %+v", ao, ao.Scope)
	}

	clearEnv(t)
	setEnv(t, "OS_AUTH_URL", "http://k:5000/v3", "OS_APPLICATION_CREDENTIAL_NAME", "builder", "OS_APPLICATION_CREDENTIAL_SECRET", "s")
	if _, _, _, err := (Auth{}).Options(); err == nil || !strings.Contains(err.Error(), "application_credential_name needs username or user_id") {
		t.Errorf("name without user: %v", err)
	}
}

// A token (OS_TOKEN) scoped to a project; the user of the openrc is not sent with it.
func TestEnvToken(t *testing.T) {
	clearEnv(t)
	setEnv(t, "OS_AUTH_URL", "http://k:5000/v3", "OS_AUTH_TYPE", "v3token", "OS_TOKEN", "gAAAA-token",
		"OS_USERNAME", "u", "OS_USER_DOMAIN_NAME", "Default", "OS_PROJECT_NAME", "p", "OS_PROJECT_DOMAIN_NAME", "Default")
	ao, _ := options(t, Auth{})
	if ao.TokenID != "gAAAA-token" || ao.Username != "" || ao.DomainName != "" || ao.Scope == nil || ao.Scope.ProjectName != "p" || ao.Scope.DomainName != "Default" {
		t.Errorf("token: %+v scope %+v", ao, ao.Scope)
	}
	if ao.AllowReauth {
		t.Error("a token cannot be renewed")
	}
	// Without OS_AUTH_TYPE a token alone is token authentication.
	clearEnv(t)
	setEnv(t, "OS_AUTH_URL", "http://k:5000/v3", "OS_TOKEN", "tok", "OS_PROJECT_ID", "p-1")
	ao, _ = options(t, Auth{})
	if ao.TokenID != "tok" || ao.Scope == nil || ao.Scope.ProjectID != "p-1" {
		t.Errorf("token without auth type: %+v", ao)
	}
}

// writeCA writes a self-signed certificate and its key as PEM files.
func writeCA(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

// OS_CACERT, OS_CERT / OS_KEY and OS_INSECURE.
func TestEnvTLS(t *testing.T) {
	clearEnv(t)
	cert, key := writeCA(t, t.TempDir())
	setEnv(t, "OS_AUTH_URL", "https://k:5000/v3", "OS_USERNAME", "u", "OS_PASSWORD", "pw",
		"OS_CACERT", cert, "OS_CERT", cert, "OS_KEY", key)
	_, _, tc, err := (Auth{}).Options()
	if err != nil {
		t.Fatal(err)
	}
	if tc == nil || tc.RootCAs == nil || len(tc.Certificates) != 1 || tc.InsecureSkipVerify {
		t.Errorf("tls %+v", tc)
	}
	t.Setenv("OS_INSECURE", "true")
	if _, _, tc, err = (Auth{}).Options(); err != nil || !tc.InsecureSkipVerify {
		t.Errorf("OS_INSECURE=true: %+v %v", tc, err)
	}
	t.Setenv("OS_INSECURE", "")
	t.Setenv("OS_CACERT", "/nonexistent/ca.pem")
	if _, _, _, err = (Auth{}).Options(); err == nil || !strings.Contains(err.Error(), "CA cert") {
		t.Errorf("missing OS_CACERT: %v", err)
	}
}

// Explicit settings > the clouds.yaml entry (OS_CLOUD) > OS_*; a name and its ID come from
// one place; the environment fills what the entry lacks (a password kept out of the file).
func TestPrecedence(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	clouds := filepath.Join(dir, "clouds.yaml")
	os.WriteFile(clouds, []byte(`clouds:
  prod:
    auth:
      auth_url: http://yaml:5000/v3
      username: yaml-user
      project_name: yaml-project
      user_domain_name: YamlDomain
      project_domain_name: YamlDomain
    region_name: YamlRegion
    interface: internal
`), 0o600)
	setEnv(t, "OS_CLOUD", "prod", "OS_CLIENT_CONFIG_FILE", clouds, "OS_AUTH_URL", "http://env:5000/v3",
		"OS_USERNAME", "env-user", "OS_PASSWORD", "env-pw", "OS_PROJECT_ID", "env-project-id",
		"OS_USER_DOMAIN_ID", "env-domain", "OS_REGION_NAME", "EnvRegion", "OS_INTERFACE", "admin")
	ao, eo := options(t, Auth{})
	if ao.IdentityEndpoint != "http://yaml:5000/v3" || ao.Username != "yaml-user" || ao.Password != "env-pw" ||
		ao.DomainName != "YamlDomain" || ao.DomainID != "" {
		t.Errorf("clouds.yaml over env: %+v", ao)
	}
	if s := ao.Scope; s == nil || s.ProjectName != "yaml-project" || s.ProjectID != "" || s.DomainName != "YamlDomain" {
		t.Errorf("scope %+v", ao.Scope)
	}
	if eo.Region != "YamlRegion" || eo.Availability != gophercloud.AvailabilityInternal {
		t.Errorf("endpoint %+v", eo)
	}
	ao, eo = options(t, Auth{Username: "tpl-user", ProjectID: "tpl-project", Region: "TplRegion", Interface: "public"})
	if ao.Username != "tpl-user" || ao.Scope == nil || ao.Scope.ProjectID != "tpl-project" || ao.Scope.ProjectName != "" ||
		eo.Region != "TplRegion" || eo.Availability != gophercloud.AvailabilityPublic {
		t.Errorf("explicit over clouds.yaml: %+v %+v %+v", ao, ao.Scope, eo)
	}
	// secure.yaml next to clouds.yaml holds the password.
	os.WriteFile(filepath.Join(dir, "secure.yaml"), []byte("clouds:\n  prod:\n    auth:\n      password: secure-pw\n"), 0o600)
	if ao, _ = options(t, Auth{}); ao.Password != "secure-pw" {
		t.Errorf("secure.yaml: password %q", ao.Password)
	}
	// An application credential of the entry wins over the password of a leftover openrc.
	os.Remove(filepath.Join(dir, "secure.yaml"))
	os.WriteFile(clouds, []byte(`clouds:
  app:
    auth_type: ""
    auth:
      auth_url: http://yaml:5000/v3
      application_credential_id: ac-yaml
      application_credential_secret: s
`), 0o600)
	t.Setenv("OS_CLOUD", "app")
	if ao, _ = options(t, Auth{}); ao.ApplicationCredentialID != "ac-yaml" || ao.Password != "" || ao.Username != "" || ao.Scope != nil {
		t.Errorf("application credential of clouds.yaml: %+v", ao)
	}
	// An unknown entry says which file was read.
	t.Setenv("OS_CLOUD", "nope")
	if _, _, _, err := (Auth{}).Options(); err == nil || !strings.Contains(err.Error(), `no cloud "nope" in `+clouds) {
		t.Errorf("unknown cloud: %v", err)
	}
}

func TestResolveErrors(t *testing.T) {
	clearEnv(t)
	if _, _, _, err := (Auth{}).Options(); err == nil || !strings.Contains(err.Error(), "no OpenStack credentials") {
		t.Errorf("nothing: %v", err)
	}
	setEnv(t, "OS_AUTH_URL", "http://k:5000/v3", "OS_USERNAME", "u")
	if _, _, _, err := (Auth{}).Options(); err == nil || !strings.Contains(err.Error(), "no password, token or application_credential_secret") {
		t.Errorf("no password: %v", err)
	}
	setEnv(t, "OS_PASSWORD", "pw", "OS_AUTH_TYPE", "v3oidc")
	if _, _, _, err := (Auth{}).Options(); err == nil || !strings.Contains(err.Error(), `auth_type "v3oidc"`) {
		t.Errorf("auth type: %v", err)
	}
}

// A refused authentication says what Keystone said, with the HTTP status.
func TestKeystoneErrorShown(t *testing.T) {
	clearEnv(t)
	ks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":{"code":401,"message":"The request you have made requires authentication.","title":"Unauthorized"}}`))
	}))
	defer ks.Close()
	setEnv(t, "OS_AUTH_URL", ks.URL+"/v3", "OS_USERNAME", "u", "OS_PASSWORD", "wrong", "OS_PROJECT_NAME", "p")
	_, err := Connect(t.Context(), Auth{})
	if err == nil || !strings.Contains(err.Error(), "Keystone answered 401 Unauthorized: The request you have made requires authentication.") {
		t.Errorf("error %v", err)
	}
}

// A certificate the client does not trust fails at once with the certificate error, never
// retried as if the network were down.
func TestCertificateErrorNotRetried(t *testing.T) {
	clearEnv(t)
	ks := httptest.NewTLSServer(http.NotFoundHandler())
	defer ks.Close()
	setEnv(t, "OS_AUTH_URL", ks.URL+"/v3", "OS_USERNAME", "u", "OS_PASSWORD", "pw")
	start := time.Now()
	_, err := Connect(t.Context(), Auth{})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("want a certificate error, got %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("retried for %s", d)
	}
}
