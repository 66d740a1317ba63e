package ec2common

import (
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	cloud "github.com/chromogenic/packer-plugin-chromogenic/internal/cloud/ec2"
)

// ApplyEucarc fills what a template with a `eucalyptus` block leaves empty from the eucarc
// environment (cloud.ReadEucarc), as euca2ools does. Precedence, field by field: the
// template, then the eucarc variable, then (credentials only) the usual AWS sources.
//
//   - custom_endpoint_ec2 <- EC2_URL, custom_endpoint_s3 <- S3_URL;
//   - access_key, secret_key <- EC2_ACCESS_KEY, EC2_SECRET_KEY: only when both are set and
//     the template gives none of access_key, secret_key, token and profile (the eucarc
//     keys then come before AWS_ACCESS_KEY_ID, AWS_PROFILE and the shared files);
//   - eucalyptus.user_cert_file <- EC2_CERT, eucalyptus.user_private_key_file <-
//     EC2_PRIVATE_KEY, eucalyptus.cloud_cert_file <- EUCALYPTUS_CERT;
//   - eucalyptus.account_id <- EC2_ACCOUNT_NUMBER, else EC2_USER_ID.
//
// It does nothing without a `eucalyptus` block (e nil): an AWS build never reads them. The
// secret key from the environment is hidden from the logs. Call it before the Prepare calls.
func ApplyEucarc(a *AccessConfig, e *EucalyptusConfig, env cloud.Eucarc) {
	if e == nil {
		return
	}
	if e.fromEnv == nil {
		e.fromEnv = map[string]string{}
	}
	set := func(dst *string, v, field, variable string) {
		if *dst == "" && v != "" {
			*dst = v
			e.fromEnv[field] = variable
		}
	}
	set(&a.CustomEndpointEC2, env.EC2URL, "custom_endpoint_ec2", "EC2_URL")
	set(&a.CustomEndpointS3, env.S3URL, "custom_endpoint_s3", "S3_URL")
	if ak, sk := env.Credentials(); ak != "" && a.AccessKey == "" && a.SecretKey == "" && a.Token == "" && a.Profile == "" {
		packersdk.LogSecretFilter.Set(sk)
		a.AccessKey, a.SecretKey = ak, sk
		e.fromEnv["access_key"] = "EC2_ACCESS_KEY"
	}
	set(&e.UserCertFile, env.Cert, "user_cert_file", "EC2_CERT")
	set(&e.UserPrivateKeyFile, env.PrivateKey, "user_private_key_file", "EC2_PRIVATE_KEY")
	set(&e.CloudCertFile, env.CloudCert, "cloud_cert_file", "EUCALYPTUS_CERT")
	set(&e.AccountID, env.AccountID, "account_id", "EC2_ACCOUNT_NUMBER or EC2_USER_ID")
}

// FromEnv lists the fields ApplyEucarc filled and the variable each came from.
func (e *EucalyptusConfig) FromEnv() map[string]string { return e.fromEnv }
