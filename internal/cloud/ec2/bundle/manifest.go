// Package bundle writes and reads EC2/Eucalyptus instance-store image bundles, the format of
// euca-bundle-image, euca-bundle-vol, ec2-bundle-image and of BundleInstance:
//
//	image → tar (one member, the image file) → SHA-1 of the tar → gzip → AES-128-CBC with a
//	random key and IV → parts of 10 MiB, <prefix>.part.NN, each with its SHA-1
//
// described by <prefix>.manifest.xml (version 2007-10-10): the machine configuration, the
// image's name, owner, digest and sizes, the AES key and IV wrapped (RSA PKCS#1 v1.5, as hex)
// once to the cloud's certificate and once to the user's, the parts, and an RSA-SHA1
// signature by the bundler's key over the text from <machine_configuration> to </image>, as
// euca2ools' bundle/manifest.py makes it and the cloud checks it.
//
// Both directions stream with bounded memory (one part buffered): a whole disk image is never
// held in memory nor copied to a temporary file. The reader checks every part's SHA-1 before
// its bytes are used, the tar's SHA-1 and the image size against the manifest, and the
// signature when certificates are given; it writes the image sparsely (all-zero blocks become
// holes).
//
// It is written in-house because no Go library implements the format (the only
// implementations are the Python euca2ools and the Ruby EC2 AMI tools, which shell out to
// openssl, gzip and tar); the pieces are the standard library's crypto, archive/tar and
// klauspost/compress' gzip.
package bundle

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // the bundle format is defined with SHA-1
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// ManifestVersion is the manifest format version written and understood.
const ManifestVersion = "2007-10-10"

// DefaultPartSize is the size of every part but the last (10 MiB, as euca2ools).
const DefaultPartSize = 10 << 20

// maxPartSize bounds what the reader buffers for one part.
const maxPartSize = 128 << 20

// Part is one encrypted piece of a bundle.
type Part struct {
	Index    int
	Filename string
	SHA1     string // hex
	Size     int64  // known when written; 0 when parsed
}

// Manifest is a parsed bundle manifest.
type Manifest struct {
	Version      string
	Bundler      string
	Architecture string
	KernelID     string
	RamdiskID    string
	// BlockDevices maps virtual names (ami, root, ephemeral0, swap) to devices.
	BlockDevices map[string]string
	Name         string // the image file name (the tar member)
	User         string // the owner's account id
	Type         string // machine, kernel or ramdisk
	// AncestorAMIIDs are the images this one was rebundled from, nearest first
	// (<image><ancestry><ancestor_ami_id>, as euca-bundle-vol and ec2-bundle-vol write them;
	// the cloud shows them to instances as ancestor-ami-ids).
	AncestorAMIIDs []string
	Digest         string // hex SHA-1 of the tar
	Size           int64  // the image's size
	BundledSize    int64  // the sum of the parts' sizes
	EC2Key         string // hex RSA wraps of the key and IV
	EC2IV          string
	UserKey        string
	UserIV         string
	Parts          []Part
	Signature      string // hex RSA-SHA1

	// signed is the manifest text from <machine_configuration> to </image>.
	signed []byte
}

type xmlManifest struct {
	XMLName xml.Name `xml:"manifest"`
	Version string   `xml:"version"`
	Bundler struct {
		Name    string `xml:"name"`
		Version string `xml:"version"`
		Release string `xml:"release"`
	} `xml:"bundler"`
	Machine struct {
		Architecture string       `xml:"architecture"`
		KernelID     string       `xml:"kernel_id"`
		RamdiskID    string       `xml:"ramdisk_id"`
		BDM          []xmlMapping `xml:"block_device_mapping>mapping"`
		// euca2ools' reader looks for this spelling.
		BDMs []xmlMapping `xml:"block_device_mappings>block_device_mapping"`
	} `xml:"machine_configuration"`
	Image struct {
		Name string `xml:"name"`
		User string `xml:"user"`
		Type string `xml:"type"`
		// Eucalyptus splits each element's text on commas too.
		Ancestors   []string `xml:"ancestry>ancestor_ami_id"`
		Digest      xmlAlg   `xml:"digest"`
		Size        string   `xml:"size"`
		BundledSize string   `xml:"bundled_size"`
		EC2Key      xmlAlg   `xml:"ec2_encrypted_key"`
		UserKey     xmlAlg   `xml:"user_encrypted_key"`
		EC2IV       string   `xml:"ec2_encrypted_iv"`
		UserIV      string   `xml:"user_encrypted_iv"`
		Parts       struct {
			Count string `xml:"count,attr"`
			Part  []struct {
				Index    string `xml:"index,attr"`
				Filename string `xml:"filename"`
				Digest   xmlAlg `xml:"digest"`
			} `xml:"part"`
		} `xml:"parts"`
	} `xml:"image"`
	Signature string `xml:"signature"`
}

type xmlMapping struct {
	Virtual string `xml:"virtual"`
	Device  string `xml:"device"`
}

type xmlAlg struct {
	Algorithm string `xml:"algorithm,attr"`
	Value     string `xml:",chardata"`
}

var (
	hexRE      = regexp.MustCompile(`^[0-9a-fA-F]+$`)
	partNameRE = regexp.MustCompile(`^[A-Za-z0-9._+=@()\-]+$`)
)

// ParseManifest parses and checks a manifest's structure (not its signature: see Verify).
func ParseManifest(data []byte) (*Manifest, error) {
	var x xmlManifest
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.CharsetReader = func(charset string, r io.Reader) (io.Reader, error) {
		switch strings.ToLower(charset) {
		case "ascii", "us-ascii", "utf-8", "utf8":
			return r, nil // euca2ools declares ASCII
		}
		return nil, fmt.Errorf("manifest encoding %q", charset)
	}
	if err := dec.Decode(&x); err != nil {
		return nil, fmt.Errorf("bundle manifest: %w", err)
	}
	trim := strings.TrimSpace
	m := &Manifest{
		Version: trim(x.Version), Bundler: trim(x.Bundler.Name + " " + x.Bundler.Version),
		Architecture: trim(x.Machine.Architecture), KernelID: trim(x.Machine.KernelID), RamdiskID: trim(x.Machine.RamdiskID),
		BlockDevices: map[string]string{},
		Name:         trim(x.Image.Name), User: trim(x.Image.User), Type: trim(x.Image.Type),
		Digest: strings.ToLower(trim(x.Image.Digest.Value)),
		EC2Key: trim(x.Image.EC2Key.Value), EC2IV: trim(x.Image.EC2IV),
		UserKey: trim(x.Image.UserKey.Value), UserIV: trim(x.Image.UserIV),
		Signature: trim(x.Signature),
	}
	for _, b := range append(x.Machine.BDM, x.Machine.BDMs...) {
		if v := trim(b.Virtual); v != "" {
			m.BlockDevices[v] = trim(b.Device)
		}
	}
	var err error
	if m.Version != ManifestVersion {
		return nil, fmt.Errorf("bundle manifest: version %q, want %s", m.Version, ManifestVersion)
	}
	if m.Name == "" || strings.ContainsAny(m.Name, "/\\\x00") {
		return nil, fmt.Errorf("bundle manifest: bad image name %q", m.Name)
	}
	if a := strings.ToUpper(trim(x.Image.Digest.Algorithm)); a != "SHA1" && a != "SHA-1" {
		return nil, fmt.Errorf("bundle manifest: image digest algorithm %q, want SHA1", x.Image.Digest.Algorithm)
	}
	if len(m.Digest) != 40 || !hexRE.MatchString(m.Digest) {
		return nil, fmt.Errorf("bundle manifest: bad image digest %q", m.Digest)
	}
	if m.Size, err = strconv.ParseInt(trim(x.Image.Size), 10, 64); err != nil || m.Size < 0 {
		return nil, fmt.Errorf("bundle manifest: bad image size %q", x.Image.Size)
	}
	if m.BundledSize, err = strconv.ParseInt(trim(x.Image.BundledSize), 10, 64); err != nil || m.BundledSize < 0 {
		return nil, fmt.Errorf("bundle manifest: bad bundled_size %q", x.Image.BundledSize)
	}
	if a := strings.ToUpper(trim(x.Image.EC2Key.Algorithm + x.Image.UserKey.Algorithm)); a != "" && !strings.HasPrefix(a, "AES-128-CBC") {
		return nil, fmt.Errorf("bundle manifest: cipher %q, want AES-128-CBC", x.Image.UserKey.Algorithm)
	}
	for field, v := range map[string]string{"ec2_encrypted_key": m.EC2Key, "ec2_encrypted_iv": m.EC2IV, "user_encrypted_key": m.UserKey, "user_encrypted_iv": m.UserIV} {
		if v != "" && !hexRE.MatchString(v) {
			return nil, fmt.Errorf("bundle manifest: %s is not hex", field)
		}
	}
	if (m.EC2Key == "" || m.EC2IV == "") && (m.UserKey == "" || m.UserIV == "") {
		return nil, errors.New("bundle manifest: no encrypted key and IV")
	}
	count, err := strconv.Atoi(trim(x.Image.Parts.Count))
	if err != nil || count < 1 || count > 100000 || count != len(x.Image.Parts.Part) {
		return nil, fmt.Errorf("bundle manifest: parts count %q for %d parts", x.Image.Parts.Count, len(x.Image.Parts.Part))
	}
	m.Parts = make([]Part, count)
	seen := make([]bool, count)
	for _, p := range x.Image.Parts.Part {
		i, err := strconv.Atoi(trim(p.Index))
		if err != nil || i < 0 || i >= count || seen[i] {
			return nil, fmt.Errorf("bundle manifest: bad or repeated part index %q", p.Index)
		}
		seen[i] = true
		name, dg := trim(p.Filename), strings.ToLower(trim(p.Digest.Value))
		if !partNameRE.MatchString(name) || name == "." || name == ".." {
			return nil, fmt.Errorf("bundle manifest: bad part file name %q", name)
		}
		if a := strings.ToUpper(trim(p.Digest.Algorithm)); a != "SHA1" && a != "SHA-1" {
			return nil, fmt.Errorf("bundle manifest: part %d digest algorithm %q, want SHA1", i, p.Digest.Algorithm)
		}
		if len(dg) != 40 || !hexRE.MatchString(dg) {
			return nil, fmt.Errorf("bundle manifest: bad digest of part %d", i)
		}
		m.Parts[i] = Part{Index: i, Filename: name, SHA1: dg}
	}
	if m.AncestorAMIIDs, err = parseAncestors(x.Image.Ancestors); err != nil {
		return nil, err
	}
	m.signed = signedSpan(data)
	return m, nil
}

// MaxAncestors bounds the ancestry a manifest may carry (read and written).
const MaxAncestors = 64

var imageIDRE = regexp.MustCompile(`^[a-z]{3}-[0-9a-zA-Z]{1,32}$`)

// parseAncestors reads <ancestor_ami_id> elements as Eucalyptus does (each may hold a
// comma-separated list): image ids only, at most MaxAncestors.
func parseAncestors(elems []string) ([]string, error) {
	var ids []string
	for _, e := range elems {
		for _, id := range strings.Split(e, ",") {
			id = strings.TrimSpace(id)
			if id == "" {
				continue
			}
			if !imageIDRE.MatchString(id) {
				return nil, fmt.Errorf("bundle manifest: ancestor_ami_id %q is not an image id", truncate(id, 40))
			}
			if len(ids) == MaxAncestors {
				return nil, fmt.Errorf("bundle manifest: more than %d ancestor_ami_id", MaxAncestors)
			}
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// Ancestry is the ancestry of an image rebundled from the image id whose manifest is
// parent (nil when unknown): id first, then parent's own ancestors, without repeats, at
// most MaxAncestors (the oldest dropped).
func Ancestry(id string, parent *Manifest) []string {
	out := []string{}
	seen := map[string]bool{}
	add := func(v string) {
		if v != "" && !seen[v] && len(out) < MaxAncestors && imageIDRE.MatchString(v) {
			seen[v] = true
			out = append(out, v)
		}
	}
	add(id)
	if parent != nil {
		for _, a := range parent.AncestorAMIIDs {
			add(a)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// signedSpan is the manifest text from <machine_configuration> to </image>, what the
// signature covers (nil when absent).
func signedSpan(data []byte) []byte {
	start := bytes.Index(data, []byte("<machine_configuration>"))
	end := bytes.LastIndex(data, []byte("</image>"))
	if start < 0 || end < start {
		return nil
	}
	return data[start : end+len("</image>")]
}

// Verify checks the manifest's RSA-SHA1 signature against any of the certificates (the
// bundler's: the user's for euca-bundle-image, the cloud's for BundleInstance).
func (m *Manifest) Verify(certs ...*x509.Certificate) error {
	if m.Signature == "" || m.signed == nil {
		return errors.New("bundle manifest is not signed")
	}
	sig, err := hex.DecodeString(m.Signature)
	if err != nil {
		return errors.New("bundle manifest signature is not hex")
	}
	sum := sha1.Sum(m.signed) //nolint:gosec // format
	for _, c := range certs {
		if c == nil {
			continue
		}
		pub, ok := c.PublicKey.(*rsa.PublicKey)
		if !ok {
			continue
		}
		if rsa.VerifyPKCS1v15(pub, crypto.SHA1, sum[:], sig) == nil {
			return nil
		}
	}
	return errors.New("bundle manifest signature does not verify with the given certificates: the manifest was altered or signed by someone else")
}

// Keys unwraps the AES key and IV with a private key: the user's (user_encrypted_*) or the
// cloud's (ec2_encrypted_*), whichever it opens.
func (m *Manifest) Keys(priv *rsa.PrivateKey) (key, iv []byte, err error) {
	try := func(k, v string) ([]byte, []byte, error) {
		if k == "" || v == "" {
			return nil, nil, errors.New("absent")
		}
		key, err := unwrap(priv, k)
		if err != nil {
			return nil, nil, err
		}
		iv, err := unwrap(priv, v)
		if err != nil {
			return nil, nil, err
		}
		return key, iv, nil
	}
	if key, iv, err = try(m.UserKey, m.UserIV); err == nil {
		return key, iv, nil
	}
	if key, iv, err = try(m.EC2Key, m.EC2IV); err == nil {
		return key, iv, nil
	}
	return nil, nil, errors.New("neither the user's nor the cloud's encrypted key of the bundle opens with this private key: give the key of the certificate the bundle was made for")
}

// unwrap decrypts one hex RSA wrap. euca2ools wraps the hex text of the key (what openssl enc
// -K takes); raw 16-byte values are accepted too.
func unwrap(priv *rsa.PrivateKey, h string) ([]byte, error) {
	ct, err := hex.DecodeString(h)
	if err != nil {
		return nil, err
	}
	pt, err := rsa.DecryptPKCS1v15(nil, priv, ct)
	if err != nil {
		return nil, err
	}
	s := strings.TrimSpace(string(pt))
	if len(s) == 32 && hexRE.MatchString(s) {
		return hex.DecodeString(s)
	}
	if len(pt) == 16 {
		return pt, nil
	}
	return nil, fmt.Errorf("unwrapped key of %d bytes", len(pt))
}

func wrap(cert *x509.Certificate, v []byte) (string, error) {
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return "", fmt.Errorf("certificate %q has no RSA key", cert.Subject.CommonName)
	}
	ct, err := rsa.EncryptPKCS1v15(rand.Reader, pub, []byte(hex.EncodeToString(v)))
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(ct), nil
}

// LoadCertificate reads a PEM X.509 certificate file (the first CERTIFICATE block).
func LoadCertificate(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseCertificate(b)
}

// ParseCertificate parses the first CERTIFICATE block of PEM text.
func ParseCertificate(b []byte) (*x509.Certificate, error) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, errors.New("no PEM CERTIFICATE block")
		}
		if blk.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, err
			}
			if _, ok := c.PublicKey.(*rsa.PublicKey); !ok {
				return nil, errors.New("the certificate's key is not RSA")
			}
			return c, nil
		}
	}
}

// LoadPrivateKey reads a PEM RSA private key file (PKCS#1 or PKCS#8).
func LoadPrivateKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParsePrivateKey(b)
}

// ParsePrivateKey parses the first private key block of PEM text.
func ParsePrivateKey(b []byte) (*rsa.PrivateKey, error) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, errors.New("no PEM private key block")
		}
		switch blk.Type {
		case "RSA PRIVATE KEY":
			return x509.ParsePKCS1PrivateKey(blk.Bytes)
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				return nil, err
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, errors.New("the private key is not RSA")
			}
			return rk, nil
		}
	}
}

// xmlText escapes s for element content.
func xmlText(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s)) //nolint:errcheck // strings.Builder does not fail
	return b.String()
}

// render writes the manifest as euca2ools does (no whitespace between elements), signing
// <machine_configuration>…</image> with key.
func (m *Manifest) render(key *rsa.PrivateKey) ([]byte, error) {
	var mc strings.Builder
	mc.WriteString("<machine_configuration><architecture>" + xmlText(m.Architecture) + "</architecture>")
	if m.KernelID != "" {
		mc.WriteString("<kernel_id>" + xmlText(m.KernelID) + "</kernel_id>")
	}
	if m.RamdiskID != "" {
		mc.WriteString("<ramdisk_id>" + xmlText(m.RamdiskID) + "</ramdisk_id>")
	}
	if len(m.BlockDevices) > 0 {
		mc.WriteString("<block_device_mapping>")
		for _, v := range sortedKeys(m.BlockDevices) {
			mc.WriteString("<mapping><device>" + xmlText(m.BlockDevices[v]) + "</device><virtual>" + xmlText(v) + "</virtual></mapping>")
		}
		mc.WriteString("</block_device_mapping>")
	}
	mc.WriteString("</machine_configuration>")
	var im strings.Builder
	fmt.Fprintf(&im, "<image><name>%s</name><user>%s</user><digest algorithm=\"SHA1\">%s</digest><size>%d</size><bundled_size>%d</bundled_size><type>%s</type>",
		xmlText(m.Name), xmlText(m.User), m.Digest, m.Size, m.BundledSize, xmlText(m.Type))
	if len(m.AncestorAMIIDs) > 0 {
		im.WriteString("<ancestry>")
		for _, a := range m.AncestorAMIIDs {
			im.WriteString("<ancestor_ami_id>" + xmlText(a) + "</ancestor_ami_id>")
		}
		im.WriteString("</ancestry>")
	}
	fmt.Fprintf(&im, "<ec2_encrypted_key algorithm=\"AES-128-CBC\">%s</ec2_encrypted_key><user_encrypted_key algorithm=\"AES-128-CBC\">%s</user_encrypted_key>"+
		"<ec2_encrypted_iv>%s</ec2_encrypted_iv><user_encrypted_iv>%s</user_encrypted_iv>", m.EC2Key, m.UserKey, m.EC2IV, m.UserIV)
	fmt.Fprintf(&im, "<parts count=\"%d\">", len(m.Parts))
	for _, p := range m.Parts {
		fmt.Fprintf(&im, "<part index=\"%d\"><filename>%s</filename><digest algorithm=\"SHA1\">%s</digest></part>", p.Index, xmlText(p.Filename), p.SHA1)
	}
	im.WriteString("</parts></image>")
	signed := []byte(mc.String() + im.String())
	sum := sha1.Sum(signed) //nolint:gosec // format
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA1, sum[:])
	if err != nil {
		return nil, fmt.Errorf("sign the manifest: %w", err)
	}
	m.Signature = hex.EncodeToString(sig)
	m.signed = signed
	out := "<?xml version='1.0' encoding='UTF-8'?>\n<manifest><version>" + ManifestVersion + "</version>" +
		"<bundler><name>chromogenic</name><version>1</version><release>0</release></bundler>" +
		string(signed) + "<signature>" + m.Signature + "</signature></manifest>"
	return []byte(out), nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}
