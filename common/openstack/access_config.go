//go:generate packer-sdc struct-markdown
//go:generate packer-sdc mapstructure-to-hcl2 -type AccessConfig

package openstackcommon

import (
	"fmt"
	"os"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/openstack"
)

// AccessConfig says how to reach an OpenStack cloud. Leave it empty to use `OS_CLOUD` and
// clouds.yaml, or the `OS_*` variables of an openrc file, as the openstack client does.
// Explicit settings override the clouds.yaml entry, which overrides the `OS_*` variables;
// a name and its ID (of the user, the project, a domain) come from the same place.
type AccessConfig struct {
	// The entry of clouds.yaml to use. Defaults to `OS_CLOUD`.
	Cloud string `mapstructure:"cloud" required:"false"`
	// The clouds.yaml file. Defaults to the openstack client's search path
	// (`./clouds.yaml`, `~/.config/openstack/clouds.yaml`, `/etc/openstack/clouds.yaml`) or
	// `OS_CLIENT_CONFIG_FILE`.
	CloudsFile string `mapstructure:"clouds_file" required:"false"`
	// The Keystone URL (`OS_AUTH_URL`).
	IdentityEndpoint string `mapstructure:"identity_endpoint" required:"false"`
	// User name (`OS_USERNAME`).
	Username string `mapstructure:"username" required:"false"`
	// User ID (`OS_USER_ID`), instead of the name and its domain.
	UserID string `mapstructure:"user_id" required:"false"`
	// Password (`OS_PASSWORD`).
	Password string `mapstructure:"password" required:"false"`
	// A Keystone token instead of a password (`OS_TOKEN`).
	Token string `mapstructure:"token" required:"false"`
	// The project to scope to by name (`OS_PROJECT_NAME`, `OS_TENANT_NAME`).
	ProjectName string `mapstructure:"project_name" required:"false"`
	// The project to scope to by ID (`OS_PROJECT_ID`, `OS_TENANT_ID`).
	ProjectID string `mapstructure:"project_id" required:"false"`
	// The user's domain by name (`OS_USER_DOMAIN_NAME`). Without any domain, `default`.
	UserDomainName string `mapstructure:"user_domain_name" required:"false"`
	// The user's domain by ID (`OS_USER_DOMAIN_ID`).
	UserDomainID string `mapstructure:"user_domain_id" required:"false"`
	// The project's domain by name (`OS_PROJECT_DOMAIN_NAME`). Without any domain, `default`.
	ProjectDomainName string `mapstructure:"project_domain_name" required:"false"`
	// The project's domain by ID (`OS_PROJECT_DOMAIN_ID`).
	ProjectDomainID string `mapstructure:"project_domain_id" required:"false"`
	// The domain of both the user and the project, by name (`OS_DOMAIN_NAME`); alone, a
	// domain scope.
	DomainName string `mapstructure:"domain_name" required:"false"`
	// The same by ID (`OS_DOMAIN_ID`).
	DomainID string `mapstructure:"domain_id" required:"false"`
	// An application credential instead of a user and password, by ID
	// (`OS_APPLICATION_CREDENTIAL_ID`).
	ApplicationCredentialID string `mapstructure:"application_credential_id" required:"false"`
	// The same by name (`OS_APPLICATION_CREDENTIAL_NAME`), with `username` or `user_id`.
	ApplicationCredentialName string `mapstructure:"application_credential_name" required:"false"`
	// The application credential's secret (`OS_APPLICATION_CREDENTIAL_SECRET`).
	ApplicationCredentialSecret string `mapstructure:"application_credential_secret" required:"false"`
	// The region (`OS_REGION_NAME`).
	Region string `mapstructure:"region" required:"false"`
	// The endpoint interface: `public` (default), `internal` or `admin` (`OS_INTERFACE`).
	EndpointType string `mapstructure:"endpoint_type" required:"false"`
	// A CA bundle to verify the cloud's TLS certificates with (`OS_CACERT`).
	CACertFile string `mapstructure:"cacert" required:"false"`
	// A client certificate for TLS (`OS_CERT`).
	ClientCertFile string `mapstructure:"cert" required:"false"`
	// Its key (`OS_KEY`).
	ClientKeyFile string `mapstructure:"key" required:"false"`
	// Do not verify TLS certificates (`OS_INSECURE=true`, `verify: false`).
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
