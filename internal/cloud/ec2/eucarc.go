package ec2

import "os"

// Eucarc is what a Eucalyptus user's `source eucarc` (the credentials zip of
// euca-get-credentials, or the admin's) puts in the environment, for the tools that read it
// (euca2ools, the EC2 API and AMI tools, the original chromogenic). Only the variables the
// Eucalyptus paths use are read; AWS_CREDENTIAL_FILE (an iamrc file) and the IAM, STS and
// other service URLs are not.
type Eucarc struct {
	EC2URL    string // EC2_URL: the compute endpoint
	S3URL     string // S3_URL: the object storage endpoint
	AccessKey string // EC2_ACCESS_KEY
	SecretKey string // EC2_SECRET_KEY
	// Cert and PrivateKey are the user's X.509 certificate and key files (EC2_CERT,
	// EC2_PRIVATE_KEY); CloudCert the cloud's certificate file (EUCALYPTUS_CERT).
	Cert, PrivateKey, CloudCert string
	// AccountID is the account bundles are made for: EC2_ACCOUNT_NUMBER (what eucarc's
	// ec2-bundle-image alias passes as --user), else EC2_USER_ID.
	AccountID string
}

// EucarcVars are the environment variables ReadEucarc reads.
var EucarcVars = []string{"EC2_URL", "S3_URL", "EC2_ACCESS_KEY", "EC2_SECRET_KEY", "EC2_CERT", "EC2_PRIVATE_KEY",
	"EUCALYPTUS_CERT", "EC2_ACCOUNT_NUMBER", "EC2_USER_ID"}

// ReadEucarc reads the eucarc variables with getenv (os.Getenv when nil). Callers read them
// for Eucalyptus builds only: an AWS build must not pick up an EC2_URL left in the shell.
func ReadEucarc(getenv func(string) string) Eucarc {
	if getenv == nil {
		getenv = os.Getenv
	}
	e := Eucarc{EC2URL: getenv("EC2_URL"), S3URL: getenv("S3_URL"), AccessKey: getenv("EC2_ACCESS_KEY"),
		SecretKey: getenv("EC2_SECRET_KEY"), Cert: getenv("EC2_CERT"), PrivateKey: getenv("EC2_PRIVATE_KEY"),
		CloudCert: getenv("EUCALYPTUS_CERT"), AccountID: getenv("EC2_ACCOUNT_NUMBER")}
	if e.AccountID == "" {
		e.AccountID = getenv("EC2_USER_ID")
	}
	return e
}

// Credentials are the eucarc keys when both are set ("" otherwise: half a key pair is not
// used, and the usual AWS sources then apply).
func (e Eucarc) Credentials() (accessKey, secretKey string) {
	if e.AccessKey == "" || e.SecretKey == "" {
		return "", ""
	}
	return e.AccessKey, e.SecretKey
}
