package ec2emu

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// STS (AWS dialect, STSEndpoint): AssumeRole, query API 2011-06-15, answered with temporary
// credentials (an ASIA access key, a secret and a session token) that the emulator then
// accepts on every service, with the session token, until they expire. The request log
// (Calls) records each request's access key, so tests can tell which calls used the
// assumed role. AssumedRoles lists the AssumeRole requests answered.

const stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

// AssumedRole is one AssumeRole request the emulator answered.
type AssumedRole struct {
	RoleARN, SessionName, ExternalID string
	DurationSeconds                  int
	Tags                             map[string]string
	// AccessKeyID is the temporary key handed out; CallerKey the key that asked.
	AccessKeyID, CallerKey string
}

type tempCred struct {
	secret, token string
	expires       time.Time
}

var roleARN = regexp.MustCompile(`^arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$`)
var sessionName = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

// AssumedRoles returns the AssumeRole requests answered so far.
func (s *Server) AssumedRoles() []AssumedRole {
	s.stsMu.Lock()
	defer s.stsMu.Unlock()
	return append([]AssumedRole(nil), s.assumed...)
}

// secretFor is the secret of an access key the emulator accepts: its static key, or a
// temporary one from AssumeRole, which also needs its session token.
func (s *Server) secretFor(key, token string) (string, *authError) {
	if key == s.AccessKeyID {
		return s.SecretAccessKey, nil
	}
	s.stsMu.Lock()
	c, ok := s.tempCreds[key]
	s.stsMu.Unlock()
	switch {
	case !ok:
		return "", &authError{unknownKey: true, msg: "unknown access key " + key}
	case token != c.token:
		return "", &authError{unknownKey: true, msg: "the security token of " + key + " is missing or invalid"}
	case timeNow().After(c.expires):
		return "", &authError{unknownKey: true, msg: "the temporary credentials " + key + " have expired"}
	}
	return c.secret, nil
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) serveSTS(rc *reqCtx) {
	body, ae := rc.readSmallBody()
	if ae != nil {
		rc.fail(ae)
		return
	}
	sum := sha256.Sum256(body)
	si, aerr := s.verifySigV4(rc.r, hex.EncodeToString(sum[:]), false)
	if aerr != nil {
		rc.fail(errf(403, map[bool]string{true: "InvalidClientTokenId", false: "SignatureDoesNotMatch"}[aerr.unknownKey], "%s", aerr.msg))
		return
	}
	rc.sig = si
	p, ok := queryParams(rc, body)
	if !ok {
		return
	}
	rc.action = p.get("Action")
	if rc.applyFault() {
		return
	}
	if rc.action != "AssumeRole" {
		rc.fail(errf(400, "InvalidAction", "Could not find operation %s for version %s", rc.action, p.get("Version")))
		return
	}
	if v := p.get("Version"); v != "2011-06-15" {
		rc.fail(errf(400, "InvalidAction", "Could not find operation AssumeRole for version %s", v))
		return
	}
	if si.accessKey != s.AccessKeyID {
		// Role chaining is not emulated.
		rc.fail(errf(403, "AccessDenied", "%s is not authorized to perform sts:AssumeRole", si.accessKey))
		return
	}
	arn, name := p.get("RoleArn"), p.get("RoleSessionName")
	m := roleARN.FindStringSubmatch(arn)
	if m == nil {
		rc.fail(errf(400, "ValidationError", "%s is invalid: 1 validation error detected: Value at 'roleArn' failed to satisfy constraint", arn))
		return
	}
	if !sessionName.MatchString(name) {
		rc.fail(errf(400, "ValidationError", "1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint", name))
		return
	}
	dur := 3600
	if d := p.get("DurationSeconds"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 900 || n > 43200 {
			rc.fail(errf(400, "ValidationError", "1 validation error detected: Value '%s' at 'durationSeconds' failed to satisfy constraint", d))
			return
		}
		dur = n
	}
	tags := map[string]string{}
	for _, t := range p.list("Tags.member") {
		tags[t.get("Key")] = t.get("Value")
	}
	key := "ASIA" + strings.ToUpper(hex.EncodeToString([]byte(randomString(6))))[:16]
	cred := tempCred{secret: randomString(30), token: "emu-session-" + randomString(48), expires: timeNow().Add(time.Duration(dur) * time.Second).UTC()}
	s.stsMu.Lock()
	if s.tempCreds == nil {
		s.tempCreds = map[string]tempCred{}
	}
	s.tempCreds[key] = cred
	s.assumed = append(s.assumed, AssumedRole{RoleARN: arn, SessionName: name, ExternalID: p.get("ExternalId"),
		DurationSeconds: dur, Tags: tags, AccessKeyID: key, CallerKey: si.accessKey})
	s.stsMu.Unlock()
	roleName := arn[strings.LastIndex(arn, "/")+1:]
	type creds struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string `xml:"SecretAccessKey"`
		SessionToken    string `xml:"SessionToken"`
		Expiration      string `xml:"Expiration"`
	}
	type result struct {
		Credentials     creds
		AssumedRoleUser struct {
			Arn           string
			AssumedRoleID string `xml:"AssumedRoleId"`
		}
		PackedPolicySize        int
		SessionTokenSize        int
		SessionTokenUtilization int
	}
	type resp struct {
		XMLName   struct{} `xml:"AssumeRoleResponse"`
		Xmlns     string   `xml:"xmlns,attr"`
		Result    result   `xml:"AssumeRoleResult"`
		RequestID string   `xml:"ResponseMetadata>RequestId"`
	}
	r := resp{Xmlns: stsNamespace, RequestID: rc.requestID}
	r.Result.Credentials = creds{key, cred.secret, cred.token, cred.expires.Format(isoMillis)}
	r.Result.PackedPolicySize = 1 + len(tags)
	r.Result.SessionTokenSize = len(cred.token)
	r.Result.SessionTokenUtilization = max(1, len(cred.token)*100/2048)
	r.Result.AssumedRoleUser.Arn = "arn:aws:sts::" + m[1] + ":assumed-role/" + roleName + "/" + name
	r.Result.AssumedRoleUser.AssumedRoleID = "AROA" + strings.ToUpper(hex.EncodeToString([]byte(roleName)))[:min(16, 2*len(roleName))] + ":" + name
	rc.writeXML(200, r)
}
