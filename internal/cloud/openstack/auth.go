// Package openstack is the OpenStack cloud adapter: authentication the way OpenStack users
// have it (clouds.yaml / OS_CLOUD, OS_* variables, explicit settings, application
// credentials, tokens), and the Nova and Glance calls the builders and post-processors make,
// on gophercloud v2. It knows nothing of Packer.
package openstack

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	gos "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/config"
	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
	"gopkg.in/yaml.v2"
)

// Auth says how to reach and authenticate to a cloud. Explicit fields override what Cloud
// (an entry of clouds.yaml, default $OS_CLOUD) says, which overrides the OS_* environment
// variables.
type Auth struct {
	Cloud      string // clouds.yaml entry; default $OS_CLOUD
	CloudsFile string // clouds.yaml path; default $OS_CLIENT_CONFIG_FILE or the usual search path

	AuthURL           string
	Username          string
	UserID            string
	Password          string
	Token             string
	ProjectName       string
	ProjectID         string
	UserDomainName    string
	UserDomainID      string
	ProjectDomainName string
	ProjectDomainID   string
	DomainName        string
	DomainID          string
	AppCredID         string
	AppCredName       string
	AppCredSecret     string

	Region    string
	Interface string // public (default), internal, admin

	CACert   string
	Cert     string
	Key      string
	Insecure bool
}

// Clients are authenticated service clients of one cloud and region.
type Clients struct {
	Provider *gophercloud.ProviderClient
	Compute  *gophercloud.ServiceClient
	Image    *gophercloud.ServiceClient
	// Endpoint is how the service clients were found in the catalog (region, interface):
	// the identity client of ResolveMembers is found the same way.
	Endpoint gophercloud.EndpointOpts
}

// EnvCloud is the cloud the OS_* environment variables describe, as the openstack client
// reads them (an openrc file: devstack's, kolla's, Horizon's, an application credential's).
func EnvCloud() clouds.Cloud {
	env := func(names ...string) string {
		for _, n := range names {
			if v := os.Getenv(n); v != "" {
				return v
			}
		}
		return ""
	}
	c := clouds.Cloud{
		AuthType:       clouds.AuthType(env("OS_AUTH_TYPE", "OS_AUTH_PLUGIN")),
		RegionName:     env("OS_REGION_NAME"),
		Interface:      env("OS_INTERFACE", "OS_ENDPOINT_TYPE"),
		CACertFile:     env("OS_CACERT"),
		ClientCertFile: env("OS_CERT"),
		ClientKeyFile:  env("OS_KEY"),
		AuthInfo: &clouds.AuthInfo{
			AuthURL:                     env("OS_AUTH_URL"),
			Token:                       env("OS_TOKEN", "OS_AUTH_TOKEN"),
			Username:                    env("OS_USERNAME"),
			UserID:                      env("OS_USER_ID"),
			Password:                    env("OS_PASSWORD"),
			ApplicationCredentialID:     env("OS_APPLICATION_CREDENTIAL_ID"),
			ApplicationCredentialName:   env("OS_APPLICATION_CREDENTIAL_NAME"),
			ApplicationCredentialSecret: env("OS_APPLICATION_CREDENTIAL_SECRET"),
			SystemScope:                 env("OS_SYSTEM_SCOPE"),
			ProjectName:                 env("OS_PROJECT_NAME", "OS_TENANT_NAME"),
			ProjectID:                   env("OS_PROJECT_ID", "OS_TENANT_ID"),
			UserDomainName:              env("OS_USER_DOMAIN_NAME"),
			UserDomainID:                env("OS_USER_DOMAIN_ID"),
			ProjectDomainName:           env("OS_PROJECT_DOMAIN_NAME"),
			ProjectDomainID:             env("OS_PROJECT_DOMAIN_ID"),
			DomainName:                  env("OS_DOMAIN_NAME"),
			DomainID:                    env("OS_DOMAIN_ID"),
			DefaultDomain:               env("OS_DEFAULT_DOMAIN"),
			TrustID:                     env("OS_TRUST_ID"),
		},
	}
	if v := env("OS_INSECURE"); v != "" {
		if insecure, err := strconv.ParseBool(v); err == nil {
			verify := !insecure
			c.Verify = &verify
		}
	}
	return c
}

// explicit is the cloud the explicit settings describe.
func (a Auth) explicit() clouds.Cloud {
	c := clouds.Cloud{
		RegionName: a.Region, Interface: a.Interface,
		CACertFile: a.CACert, ClientCertFile: a.Cert, ClientKeyFile: a.Key,
		AuthInfo: &clouds.AuthInfo{
			AuthURL: a.AuthURL, Token: a.Token, Username: a.Username, UserID: a.UserID, Password: a.Password,
			ApplicationCredentialID: a.AppCredID, ApplicationCredentialName: a.AppCredName,
			ApplicationCredentialSecret: a.AppCredSecret,
			ProjectName:                 a.ProjectName, ProjectID: a.ProjectID,
			UserDomainName: a.UserDomainName, UserDomainID: a.UserDomainID,
			ProjectDomainName: a.ProjectDomainName, ProjectDomainID: a.ProjectDomainID,
			DomainName: a.DomainName, DomainID: a.DomainID,
		},
	}
	if a.Insecure {
		f := false
		c.Verify = &f
	}
	return c
}

// CloudsLocations are where clouds.yaml is looked for, as the openstack client does: file
// (when set), else $OS_CLIENT_CONFIG_FILE, else ./clouds.yaml,
// ${XDG_CONFIG_HOME:-~/.config}/openstack/clouds.yaml, /etc/openstack/clouds.yaml.
func CloudsLocations(file string) []string {
	if file != "" {
		return []string{file}
	}
	if p := os.Getenv("OS_CLIENT_CONFIG_FILE"); p != "" {
		return []string{p}
	}
	var locs []string
	if cwd, err := os.Getwd(); err == nil {
		locs = append(locs, filepath.Join(cwd, "clouds.yaml"))
	}
	cfg := os.Getenv("XDG_CONFIG_HOME")
	if cfg == "" {
		if home, err := os.UserHomeDir(); err == nil {
			cfg = filepath.Join(home, ".config")
		}
	}
	if cfg != "" {
		locs = append(locs, filepath.Join(cfg, "openstack", "clouds.yaml"))
	}
	return append(locs, "/etc/openstack/clouds.yaml")
}

// LoadCloud reads the entry name of the first clouds.yaml found (CloudsLocations), merged
// with the same entry of the secure.yaml next to it, if any.
func LoadCloud(name, file string) (clouds.Cloud, error) {
	locs := CloudsLocations(file)
	for _, p := range locs {
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) && file == "" {
			continue
		}
		if err != nil {
			return clouds.Cloud{}, err
		}
		var all clouds.Clouds
		if err := yaml.Unmarshal(b, &all); err != nil {
			return clouds.Cloud{}, fmt.Errorf("%s: %w", p, err)
		}
		c, ok := all.Clouds[name]
		if !ok {
			return clouds.Cloud{}, fmt.Errorf("no cloud %q in %s", name, p)
		}
		if sb, err := os.ReadFile(filepath.Join(filepath.Dir(p), "secure.yaml")); err == nil {
			var secure clouds.Clouds
			if err := yaml.Unmarshal(sb, &secure); err != nil {
				return clouds.Cloud{}, fmt.Errorf("%s: %w", filepath.Join(filepath.Dir(p), "secure.yaml"), err)
			}
			if s, ok := secure.Clouds[name]; ok {
				c = merge(s, c)
			}
		}
		return c, nil
	}
	return clouds.Cloud{}, fmt.Errorf("no clouds.yaml (looked at %s)", strings.Join(locs, ", "))
}

// merge layers clouds, the first winning. Fields that go together (a name and an ID, an
// endpoint interface, a client certificate and its key) come from one layer: the first that
// sets any of them, so that a project ID below never joins a project name above.
func merge(layers ...clouds.Cloud) clouds.Cloud {
	out := clouds.Cloud{AuthInfo: &clouds.AuthInfo{}}
	auth := func(c clouds.Cloud) *clouds.AuthInfo {
		if c.AuthInfo == nil {
			return &clouds.AuthInfo{}
		}
		return c.AuthInfo
	}
	pick := func(set func(clouds.Cloud) bool, copyFrom func(clouds.Cloud)) {
		for _, l := range layers {
			if set(l) {
				copyFrom(l)
				return
			}
		}
	}
	pick(func(c clouds.Cloud) bool { return c.Cloud != "" || c.Profile != "" }, func(c clouds.Cloud) { out.Cloud, out.Profile = c.Cloud, c.Profile })
	pick(func(c clouds.Cloud) bool { return c.AuthType != "" }, func(c clouds.Cloud) { out.AuthType = c.AuthType })
	pick(func(c clouds.Cloud) bool { return c.RegionName != "" }, func(c clouds.Cloud) { out.RegionName = c.RegionName })
	pick(func(c clouds.Cloud) bool { return c.Interface != "" || c.EndpointType != "" }, func(c clouds.Cloud) {
		out.Interface = c.Interface
		if out.Interface == "" {
			out.Interface = c.EndpointType
		}
	})
	pick(func(c clouds.Cloud) bool { return c.Verify != nil }, func(c clouds.Cloud) { out.Verify = c.Verify })
	pick(func(c clouds.Cloud) bool { return c.CACertFile != "" }, func(c clouds.Cloud) { out.CACertFile = c.CACertFile })
	pick(func(c clouds.Cloud) bool { return c.ClientCertFile != "" || c.ClientKeyFile != "" }, func(c clouds.Cloud) {
		out.ClientCertFile, out.ClientKeyFile = c.ClientCertFile, c.ClientKeyFile
	})
	o := out.AuthInfo
	str := func(get func(*clouds.AuthInfo) *string) {
		pick(func(c clouds.Cloud) bool { return *get(auth(c)) != "" }, func(c clouds.Cloud) { *get(o) = *get(auth(c)) })
	}
	pair := func(a, b func(*clouds.AuthInfo) *string) {
		pick(func(c clouds.Cloud) bool { return *a(auth(c)) != "" || *b(auth(c)) != "" }, func(c clouds.Cloud) {
			*a(o), *b(o) = *a(auth(c)), *b(auth(c))
		})
	}
	str(func(x *clouds.AuthInfo) *string { return &x.AuthURL })
	str(func(x *clouds.AuthInfo) *string { return &x.Token })
	str(func(x *clouds.AuthInfo) *string { return &x.Password })
	str(func(x *clouds.AuthInfo) *string { return &x.ApplicationCredentialSecret })
	str(func(x *clouds.AuthInfo) *string { return &x.SystemScope })
	str(func(x *clouds.AuthInfo) *string { return &x.DefaultDomain })
	str(func(x *clouds.AuthInfo) *string { return &x.TrustID })
	pair(func(x *clouds.AuthInfo) *string { return &x.Username }, func(x *clouds.AuthInfo) *string { return &x.UserID })
	pair(func(x *clouds.AuthInfo) *string { return &x.ApplicationCredentialID }, func(x *clouds.AuthInfo) *string { return &x.ApplicationCredentialName })
	pair(func(x *clouds.AuthInfo) *string { return &x.ProjectName }, func(x *clouds.AuthInfo) *string { return &x.ProjectID })
	pair(func(x *clouds.AuthInfo) *string { return &x.UserDomainName }, func(x *clouds.AuthInfo) *string { return &x.UserDomainID })
	pair(func(x *clouds.AuthInfo) *string { return &x.ProjectDomainName }, func(x *clouds.AuthInfo) *string { return &x.ProjectDomainID })
	pair(func(x *clouds.AuthInfo) *string { return &x.DomainName }, func(x *clouds.AuthInfo) *string { return &x.DomainID })
	return out
}

// Resolve merges the layers into one cloud, as the openstack client does: explicit settings,
// then the clouds.yaml entry (Cloud or $OS_CLOUD), then the OS_* environment variables. It
// then keeps only what the authentication method uses: a token, an application credential
// or a password. The auth type says which; without one, the kind of credential of the first
// layer that holds one (a password before a token before an application credential).
func (a Auth) Resolve() (clouds.Cloud, error) {
	layers := []clouds.Cloud{a.explicit()}
	name := a.Cloud
	if name == "" {
		name = os.Getenv("OS_CLOUD")
	}
	if name != "" {
		c, err := LoadCloud(name, a.CloudsFile)
		if err != nil {
			return clouds.Cloud{}, fmt.Errorf("cloud %q: %w", name, err)
		}
		layers = append(layers, c)
	} else if a.CloudsFile != "" {
		return clouds.Cloud{}, errors.New("clouds_file is set but no cloud (nor OS_CLOUD) names its entry")
	}
	layers = append(layers, EnvCloud())
	c := merge(layers...)
	ai := c.AuthInfo
	// Without an auth type, the first layer holding a credential says which kind is used: an
	// application credential in clouds.yaml is not overridden by a leftover OS_PASSWORD.
	credLayer := clouds.AuthInfo{}
	for _, l := range layers {
		if l.AuthInfo != nil && (l.AuthInfo.Password != "" || l.AuthInfo.Token != "" || l.AuthInfo.ApplicationCredentialSecret != "") {
			credLayer = *l.AuthInfo
			break
		}
	}
	if ai.AuthURL == "" {
		return c, errors.New("no OpenStack credentials (no auth URL): set cloud (a clouds.yaml entry) or OS_CLOUD, or identity_endpoint or OS_AUTH_URL with credentials")
	}
	method := strings.TrimPrefix(strings.TrimPrefix(string(c.AuthType), "v3"), "v2")
	switch method {
	case "":
		switch {
		case credLayer.Password != "" || credLayer.Token == "" && credLayer.ApplicationCredentialSecret == "":
			method = "password"
		case credLayer.Token != "":
			method = "token"
		default:
			method = "applicationcredential"
		}
	case "password", "token", "applicationcredential":
	default:
		return c, fmt.Errorf("auth_type %q: want password, token or v3applicationcredential", c.AuthType)
	}
	switch method {
	case "password":
		if ai.Password == "" {
			return c, errors.New("no password, token or application_credential_secret (nor OS_PASSWORD, OS_TOKEN or OS_APPLICATION_CREDENTIAL_SECRET, nor in the cloud entry)")
		}
		if ai.Username == "" && ai.UserID == "" {
			return c, errors.New("no user: set username or user_id (OS_USERNAME / OS_USER_ID)")
		}
		ai.Token, ai.ApplicationCredentialID, ai.ApplicationCredentialName, ai.ApplicationCredentialSecret = "", "", "", ""
	case "token":
		if ai.Token == "" {
			return c, errors.New("auth_type token but no token: set token or OS_TOKEN")
		}
		ai.Username, ai.UserID, ai.Password, ai.UserDomainName, ai.UserDomainID = "", "", "", "", ""
		ai.ApplicationCredentialID, ai.ApplicationCredentialName, ai.ApplicationCredentialSecret = "", "", ""
	case "applicationcredential":
		if ai.ApplicationCredentialSecret == "" || ai.ApplicationCredentialID == "" && ai.ApplicationCredentialName == "" {
			return c, errors.New("an application credential needs its secret and its ID or name (OS_APPLICATION_CREDENTIAL_SECRET, _ID or _NAME)")
		}
		if ai.ApplicationCredentialID == "" && ai.Username == "" && ai.UserID == "" {
			return c, errors.New("application_credential_name needs username or user_id (OS_USERNAME / OS_USER_ID)")
		}
		if ai.ApplicationCredentialID != "" || ai.UserID != "" {
			ai.Username, ai.UserDomainName, ai.UserDomainID = "", "", ""
		}
		if ai.ApplicationCredentialID != "" {
			ai.UserID = ""
		}
		// An application credential carries its own project: no scope is asked for.
		ai.Password, ai.Token, ai.ProjectName, ai.ProjectID = "", "", "", ""
		ai.ProjectDomainName, ai.ProjectDomainID, ai.DomainName, ai.DomainID, ai.SystemScope = "", "", "", "", ""
	}
	// default_domain (OS_DEFAULT_DOMAIN) stands for the user's and the project's domains when
	// they are not given; names without any domain are looked up in the "default" domain.
	dflt := ai.DefaultDomain
	if dflt == "" {
		dflt = "default"
	}
	if ai.Username != "" && ai.UserDomainName == "" && ai.UserDomainID == "" && ai.DomainName == "" && ai.DomainID == "" {
		ai.UserDomainID = dflt
	}
	if ai.ProjectName != "" && ai.ProjectDomainName == "" && ai.ProjectDomainID == "" && ai.DomainName == "" && ai.DomainID == "" {
		ai.ProjectDomainID = dflt
	}
	return c, nil
}

// Options turns the settings into gophercloud's options: the merged cloud (Resolve) goes
// through gophercloud's clouds.yaml parser, so that scopes, domains and TLS settings are
// read exactly as for a clouds.yaml entry.
func (a Auth) Options() (gophercloud.AuthOptions, gophercloud.EndpointOpts, *tls.Config, error) {
	c, err := a.Resolve()
	if err != nil {
		return gophercloud.AuthOptions{}, gophercloud.EndpointOpts{}, nil, err
	}
	switch c.Interface {
	case "", "public", "publicURL", "internal", "internalURL", "admin", "adminURL":
	default:
		return gophercloud.AuthOptions{}, gophercloud.EndpointOpts{}, nil, fmt.Errorf("interface %q: want public, internal or admin", c.Interface)
	}
	doc, err := json.Marshal(clouds.Clouds{Clouds: map[string]clouds.Cloud{"chromogenic": c}})
	if err != nil {
		return gophercloud.AuthOptions{}, gophercloud.EndpointOpts{}, nil, err
	}
	// Every value comes from the merged cloud: the parser's own reading of OS_REGION_NAME,
	// OS_INTERFACE, OS_CACERT, OS_CERT and OS_KEY is overridden (Resolve placed them).
	opts := []clouds.ParseOption{clouds.WithCloudsYAML(bytes.NewReader(doc)), clouds.WithCloudName("chromogenic"),
		clouds.WithRegion(c.RegionName), clouds.WithEndpointType(c.Interface), clouds.WithCACertPath(c.CACertFile),
		clouds.WithClientCertPath(c.ClientCertFile), clouds.WithClientKeyPath(c.ClientKeyFile)}
	if c.Verify != nil {
		opts = append(opts, clouds.WithInsecure(!*c.Verify))
	}
	ao, eo, tlsConf, err := clouds.Parse(opts...)
	if err != nil {
		return ao, eo, nil, err
	}
	ao.AllowReauth = ao.TokenID == ""
	return ao, eo, tlsConf, nil
}

// Connect authenticates and returns the compute and image clients. An authentication error
// says what Keystone answered.
func Connect(ctx context.Context, a Auth) (*Clients, error) {
	ao, eo, tlsConf, err := a.Options()
	if err != nil {
		return nil, err
	}
	pc, err := retryConnect(ctx, "authenticate to "+ao.IdentityEndpoint, func() (*gophercloud.ProviderClient, error) {
		if tlsConf != nil {
			return config.NewProviderClient(ctx, ao, config.WithTLSConfig(tlsConf))
		}
		return config.NewProviderClient(ctx, ao, config.WithHTTPClient(http.Client{}))
	})
	if err != nil {
		return nil, fmt.Errorf("authenticate to %s: %w", ao.IdentityEndpoint, KeystoneError(err))
	}
	pc.RetryFunc = retryFunc // safe requests survive 5xx and dropped connections (retry.go)
	compute, err := gos.NewComputeV2(pc, eo)
	if err != nil {
		return nil, fmt.Errorf("compute endpoint: %w", err)
	}
	image, err := gos.NewImageV2(pc, eo)
	if err != nil {
		return nil, fmt.Errorf("image endpoint: %w", err)
	}
	return &Clients{Provider: pc, Compute: compute, Image: image, Endpoint: eo}, nil
}

// KeystoneError puts what Keystone said first: an unexpected HTTP answer becomes
// "Keystone answered 401 Unauthorized: The request you have made requires authentication."
// (the original error stays wrapped). Other errors are returned as they are.
func KeystoneError(err error) error {
	var ue gophercloud.ErrUnexpectedResponseCode
	if pue := (*gophercloud.ErrUnexpectedResponseCode)(nil); errors.As(err, &pue) && pue != nil {
		ue = *pue
	} else if !errors.As(err, &ue) {
		return err
	}
	var body struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Title   string `json:"title"`
		} `json:"error"`
	}
	msg := strings.TrimSpace(string(ue.Body))
	if json.Unmarshal(ue.Body, &body) == nil && body.Error.Message != "" {
		msg = body.Error.Message
	}
	return &keystoneError{status: ue.Actual, msg: msg, err: err}
}

type keystoneError struct {
	status int
	msg    string
	err    error
}

func (e *keystoneError) Error() string {
	return fmt.Sprintf("Keystone answered %d %s: %s", e.status, http.StatusText(e.status), e.msg)
}

func (e *keystoneError) Unwrap() error { return e.err }
