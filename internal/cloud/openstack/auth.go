// Package openstack is the OpenStack cloud adapter: authentication the way OpenStack users
// have it (clouds.yaml / OS_CLOUD, OS_* variables, explicit settings, application
// credentials), and the Nova and Glance calls the builders and post-processors make, on
// gophercloud v2. It knows nothing of Packer.
package openstack

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/gophercloud/gophercloud/v2"
	gos "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/config"
	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
)

// Auth says how to reach and authenticate to a cloud. Explicit fields override what Cloud
// (an entry of clouds.yaml) or the OS_* environment variables say.
type Auth struct {
	Cloud      string // clouds.yaml entry; default $OS_CLOUD
	CloudsFile string // clouds.yaml path; default the usual search path

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
}

// Options turns the settings into gophercloud's options.
func (a Auth) Options() (gophercloud.AuthOptions, gophercloud.EndpointOpts, *tls.Config, error) {
	var ao gophercloud.AuthOptions
	var eo gophercloud.EndpointOpts
	var tlsConf *tls.Config
	cloud := a.Cloud
	if cloud == "" && a.AuthURL == "" {
		cloud = os.Getenv("OS_CLOUD")
	}
	switch {
	case cloud != "":
		opts := []clouds.ParseOption{clouds.WithCloudName(cloud)}
		if a.CloudsFile != "" {
			opts = append(opts, clouds.WithLocations(a.CloudsFile))
		}
		if a.Region != "" {
			opts = append(opts, clouds.WithRegion(a.Region))
		}
		var err error
		ao, eo, tlsConf, err = clouds.Parse(opts...)
		if err != nil {
			return ao, eo, nil, fmt.Errorf("cloud %q: %w", cloud, err)
		}
	case a.AuthURL != "" || os.Getenv("OS_AUTH_URL") != "":
		if os.Getenv("OS_AUTH_URL") != "" {
			env, err := gos.AuthOptionsFromEnv()
			if err == nil {
				ao = env
			}
		}
		eo.Region = os.Getenv("OS_REGION_NAME")
		eo.Availability = availability(os.Getenv("OS_INTERFACE"))
	default:
		return ao, eo, nil, errors.New("no OpenStack credentials: set cloud (a clouds.yaml entry), or auth_url with credentials, or the OS_CLOUD / OS_AUTH_URL environment variables")
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&ao.IdentityEndpoint, a.AuthURL)
	set(&ao.Username, a.Username)
	set(&ao.UserID, a.UserID)
	set(&ao.Password, a.Password)
	set(&ao.TokenID, a.Token)
	set(&ao.TenantName, a.ProjectName)
	set(&ao.TenantID, a.ProjectID)
	set(&ao.DomainName, a.DomainName)
	set(&ao.DomainID, a.DomainID)
	set(&ao.ApplicationCredentialID, a.AppCredID)
	set(&ao.ApplicationCredentialName, a.AppCredName)
	set(&ao.ApplicationCredentialSecret, a.AppCredSecret)
	if a.UserDomainName != "" || a.UserDomainID != "" {
		set(&ao.DomainName, a.UserDomainName)
		set(&ao.DomainID, a.UserDomainID)
	}
	if a.ProjectName != "" || a.ProjectID != "" || a.ProjectDomainName != "" || a.ProjectDomainID != "" {
		scope := &gophercloud.AuthScope{ProjectName: ao.TenantName, ProjectID: ao.TenantID,
			DomainName: a.ProjectDomainName, DomainID: a.ProjectDomainID}
		if scope.DomainName == "" && scope.DomainID == "" && scope.ProjectID == "" {
			scope.DomainName, scope.DomainID = ao.DomainName, ao.DomainID
			if scope.DomainName == "" && scope.DomainID == "" {
				scope.DomainID = "default"
			}
		}
		ao.Scope = scope
	}
	if ao.IdentityEndpoint == "" {
		return ao, eo, nil, errors.New("no auth_url: neither the settings, the cloud entry nor OS_AUTH_URL give one")
	}
	set(&eo.Region, a.Region)
	if a.Interface != "" {
		eo.Availability = availability(a.Interface)
	}
	ao.AllowReauth = true

	if a.CACert != "" || a.Insecure || a.Cert != "" {
		if tlsConf == nil {
			tlsConf = &tls.Config{}
		}
		tlsConf.InsecureSkipVerify = a.Insecure
		if a.CACert != "" {
			pem, err := os.ReadFile(a.CACert)
			if err != nil {
				return ao, eo, nil, fmt.Errorf("cacert: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return ao, eo, nil, fmt.Errorf("cacert: no certificate in %s", a.CACert)
			}
			tlsConf.RootCAs = pool
		}
		if a.Cert != "" {
			kp, err := tls.LoadX509KeyPair(a.Cert, a.Key)
			if err != nil {
				return ao, eo, nil, fmt.Errorf("cert/key: %w", err)
			}
			tlsConf.Certificates = []tls.Certificate{kp}
		}
	}
	return ao, eo, tlsConf, nil
}

func availability(s string) gophercloud.Availability {
	switch s {
	case "internal", "internalURL":
		return gophercloud.AvailabilityInternal
	case "admin", "adminURL":
		return gophercloud.AvailabilityAdmin
	}
	return gophercloud.AvailabilityPublic
}

// Connect authenticates and returns the compute and image clients.
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
		return nil, fmt.Errorf("authenticate to %s: %w", ao.IdentityEndpoint, err)
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
	return &Clients{Provider: pc, Compute: compute, Image: image}, nil
}
