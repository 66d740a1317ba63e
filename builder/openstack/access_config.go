//go:generate packer-sdc struct-markdown
//go:generate packer-sdc mapstructure-to-hcl2 -type AccessConfig

package openstack

import (
	"fmt"
	"os"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
)

// AccessConfig says how to reach an OpenStack cloud. Leave it empty to use `OS_CLOUD` or the
// `OS_*` variables, as the openstack client does; explicit settings override them.
type AccessConfig struct {
	// The entry of clouds.yaml to use. Defaults to `OS_CLOUD`.
	Cloud string `mapstructure:"cloud" required:"false"`
	// The clouds.yaml file. Defaults to the openstack client's search path
	// (`./clouds.yaml`, `~/.config/openstack/clouds.yaml`, `/etc/openstack/clouds.yaml`) or
	// `OS_CLIENT_CONFIG_FILE`.
	CloudsFile string `mapstructure:"clouds_file" required:"false"`
	// The Keystone URL (`OS_AUTH_URL`).
	IdentityEndpoint string `mapstructure:"identity_endpoint" required:"false"`
	// User name (`OS_USERNAME`) or ID.
	Username string `mapstructure:"username" required:"false"`
	UserID   string `mapstructure:"user_id" required:"false"`
	// Password (`OS_PASSWORD`).
	Password string `mapstructure:"password" required:"false"`
	// A Keystone token instead of a password.
	Token string `mapstructure:"token" required:"false"`
	// The project to scope to (`OS_PROJECT_NAME` / `OS_PROJECT_ID`).
	ProjectName string `mapstructure:"project_name" required:"false"`
	ProjectID   string `mapstructure:"project_id" required:"false"`
	// Domains of the user, the project, or both.
	UserDomainName    string `mapstructure:"user_domain_name" required:"false"`
	UserDomainID      string `mapstructure:"user_domain_id" required:"false"`
	ProjectDomainName string `mapstructure:"project_domain_name" required:"false"`
	ProjectDomainID   string `mapstructure:"project_domain_id" required:"false"`
	DomainName        string `mapstructure:"domain_name" required:"false"`
	DomainID          string `mapstructure:"domain_id" required:"false"`
	// An application credential instead of a user and password.
	ApplicationCredentialID     string `mapstructure:"application_credential_id" required:"false"`
	ApplicationCredentialName   string `mapstructure:"application_credential_name" required:"false"`
	ApplicationCredentialSecret string `mapstructure:"application_credential_secret" required:"false"`
	// The region (`OS_REGION_NAME`).
	Region string `mapstructure:"region" required:"false"`
	// The endpoint interface: `public` (default), `internal` or `admin`.
	EndpointType string `mapstructure:"endpoint_type" required:"false"`
	// A CA bundle to verify the cloud's TLS certificates with.
	CACertFile string `mapstructure:"cacert" required:"false"`
	// A client certificate and key for TLS.
	ClientCertFile string `mapstructure:"cert" required:"false"`
	ClientKeyFile  string `mapstructure:"key" required:"false"`
	// Do not verify TLS certificates.
	Insecure bool `mapstructure:"insecure" required:"false"`
}

// Prepare validates the settings; every error names its field.
func (c *AccessConfig) Prepare() []error {
	var errs []error
	packersdk.LogSecretFilter.Set(c.Password, c.Token, c.ApplicationCredentialSecret)
	switch c.EndpointType {
	case "", "public", "publicURL", "internal", "internalURL", "admin", "adminURL":
	default:
		errs = append(errs, fmt.Errorf("endpoint_type %q: want public, internal or admin", c.EndpointType))
	}
	for field, path := range map[string]string{"cacert": c.CACertFile, "cert": c.ClientCertFile, "key": c.ClientKeyFile, "clouds_file": c.CloudsFile} {
		if path == "" {
			continue
		}
		if _, err := os.Stat(path); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		}
	}
	if (c.ClientCertFile == "") != (c.ClientKeyFile == "") {
		errs = append(errs, fmt.Errorf("cert and key go together"))
	}
	if c.IdentityEndpoint != "" && c.Password == "" && c.Token == "" && c.ApplicationCredentialSecret == "" &&
		os.Getenv("OS_PASSWORD") == "" && os.Getenv("OS_TOKEN") == "" && os.Getenv("OS_APPLICATION_CREDENTIAL_SECRET") == "" {
		errs = append(errs, fmt.Errorf("identity_endpoint is set but no password, token or application_credential_secret is"))
	}
	if c.ApplicationCredentialID == "" && c.ApplicationCredentialName != "" && c.Username == "" && c.UserID == "" {
		errs = append(errs, fmt.Errorf("application_credential_name needs username or user_id"))
	}
	if c.Cloud == "" && c.IdentityEndpoint == "" && os.Getenv("OS_CLOUD") == "" && os.Getenv("OS_AUTH_URL") == "" {
		errs = append(errs, fmt.Errorf("no OpenStack credentials: set cloud, or identity_endpoint with credentials, or OS_CLOUD / OS_AUTH_URL"))
	}
	if len(errs) == 0 {
		if _, _, _, err := c.Auth().Options(); err != nil {
			errs = append(errs, fmt.Errorf("cloud/credentials: %w", err))
		}
	}
	return errs
}

// Auth is the adapter's form of the settings.
func (c *AccessConfig) Auth() cloud.Auth {
	return cloud.Auth{
		Cloud: c.Cloud, CloudsFile: c.CloudsFile, AuthURL: c.IdentityEndpoint,
		Username: c.Username, UserID: c.UserID, Password: c.Password, Token: c.Token,
		ProjectName: c.ProjectName, ProjectID: c.ProjectID,
		UserDomainName: c.UserDomainName, UserDomainID: c.UserDomainID,
		ProjectDomainName: c.ProjectDomainName, ProjectDomainID: c.ProjectDomainID,
		DomainName: c.DomainName, DomainID: c.DomainID,
		AppCredID: c.ApplicationCredentialID, AppCredName: c.ApplicationCredentialName,
		AppCredSecret: c.ApplicationCredentialSecret,
		Region:        c.Region, Interface: c.EndpointType,
		CACert: c.CACertFile, Cert: c.ClientCertFile, Key: c.ClientKeyFile, Insecure: c.Insecure,
	}
}
