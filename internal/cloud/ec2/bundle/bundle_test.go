package bundle

import (
	"bytes"
	"context"
	"crypto/sha1" //nolint:gosec // format
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

var (
	idOnce             sync.Once
	userID, cloudID    *Identity
	strangerID         *Identity
	errIdentity        error
	testImageSize      = int64(23<<20 + 12345)
	testImageDataRange = [][2]int64{{0, 1 << 20}, {5 << 20, 9 << 20}, {20 << 20, 23<<20 + 12345}}
)

func identities(t *testing.T) {
	t.Helper()
	idOnce.Do(func() {
		if userID, errIdentity = NewIdentity("user"); errIdentity != nil {
			return
		}
		if cloudID, errIdentity = NewIdentity("cloud"); errIdentity != nil {
			return
		}
		strangerID, errIdentity = NewIdentity("stranger")
	})
	if errIdentity != nil {
		t.Fatal(errIdentity)
	}
}

// testImage is a sparse-ish disk: random data in three ranges, zeros elsewhere; the random
// data is incompressible so that the bundle has several parts.
func testImage(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(testImageSize); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, rg := range testImageDataRange {
		b := make([]byte, rg[1]-rg[0])
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if _, err := f.WriteAt(b, rg[0]); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

type memBundle struct {
	parts    map[string][]byte
	manifest []byte
	m        *Manifest
}

func writeBundle(t *testing.T, img string, o WriteOptions) *memBundle {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	b := &memBundle{parts: map[string][]byte{}}
	b.m, b.manifest, err = Write(context.Background(), f, fi.Size(), o, func(p Part, data []byte) error {
		b.parts[p.Filename] = bytes.Clone(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *memBundle) source() PartSource {
	return func(_ context.Context, p Part) (io.ReadCloser, error) {
		d, ok := b.parts[p.Filename]
		if !ok {
			return nil, fmt.Errorf("no part %s", p.Filename)
		}
		return io.NopCloser(bytes.NewReader(d)), nil
	}
}

func (b *memBundle) unbundle(t *testing.T, m *Manifest, key, iv []byte) (string, error) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.img")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(m.Size); err != nil {
		t.Fatal(err)
	}
	return out, Read(context.Background(), m, key, iv, b.source(), f, ReadOptions{})
}

func fileSHA1(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha1.New() //nolint:gosec // test
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func opts() WriteOptions {
	return WriteOptions{Name: "disk.img", Prefix: "bkt-prefix", User: "123456789012", SignKey: userID.Key,
		CloudCert: cloudID.Cert, UserCert: userID.Cert, PartSize: 4 << 20,
		BlockDevices: map[string]string{"ami": "sda1", "root": "/dev/sda1"}}
}

// A bundle round trips through the user's key and through the cloud's key; the copy is
// byte-identical and sparse.
func TestRoundTrip(t *testing.T) {
	identities(t)
	img := testImage(t)
	b := writeBundle(t, img, opts())
	if len(b.m.Parts) < 3 {
		t.Fatalf("%d parts for incompressible 14 MiB with 4 MiB parts", len(b.m.Parts))
	}
	m, err := ParseManifest(b.manifest)
	if err != nil {
		t.Fatal(err)
	}
	if m.Size != testImageSize || m.Name != "disk.img" || m.User != "123456789012" || m.Architecture != "x86_64" ||
		m.BlockDevices["root"] != "/dev/sda1" || m.Parts[1].Filename != "bkt-prefix.part.01" || m.Digest != b.m.Digest {
		t.Errorf("parsed manifest %+v", m)
	}
	if err := m.Verify(strangerID.Cert, userID.Cert); err != nil {
		t.Fatal(err)
	}
	if err := m.Verify(cloudID.Cert); err == nil {
		t.Error("signature verified with the wrong certificate")
	}
	for who, id := range map[string]*Identity{"user": userID, "cloud": cloudID} {
		key, iv, err := m.Keys(id.Key)
		if err != nil {
			t.Fatalf("%s key: %v", who, err)
		}
		out, err := b.unbundle(t, m, key, iv)
		if err != nil {
			t.Fatalf("unbundle with the %s key: %v", who, err)
		}
		if fileSHA1(t, out) != fileSHA1(t, img) {
			t.Fatalf("unbundled with the %s key: content differs", who)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(out, &st); err != nil {
			t.Fatal(err)
		}
		if alloc := st.Blocks * 512; alloc > 12<<20 {
			t.Errorf("unbundled image allocates %d bytes: not sparse", alloc)
		}
	}
	if _, _, err := m.Keys(strangerID.Key); err == nil || !strings.Contains(err.Error(), "neither") {
		t.Errorf("a stranger's key: %v", err)
	}
}

// The bundle is what euca2ools and the cloud read: openssl unwraps the key, verifies the
// signature over <machine_configuration>…</image>, decrypts the joined parts; gzip and tar
// unpack the image; sha1sum of the tar is the manifest's digest.
func TestOpenSSLGzipTarReadTheBundle(t *testing.T) {
	identities(t)
	img := testImage(t)
	b := writeBundle(t, img, opts())
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyFile := write("user.pem", userID.KeyPEM)
	certFile := write("user-cert.pem", userID.CertPEM)
	run := func(stdin []byte, name string, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Stdin = bytes.NewReader(stdin)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %v: %v %s", name, args, err, stderr.String())
		}
		return out
	}
	unwrap := func(h string) string {
		ct, _ := hex.DecodeString(h)
		return strings.TrimSpace(string(run(ct, "openssl", "pkeyutl", "-decrypt", "-inkey", keyFile, "-pkeyopt", "rsa_padding_mode:pkcs1")))
	}
	key, iv := unwrap(b.m.UserKey), unwrap(b.m.UserIV)
	var joined []byte
	for _, p := range b.m.Parts {
		joined = append(joined, b.parts[p.Filename]...)
	}
	gz := run(joined, "openssl", "enc", "-d", "-aes-128-cbc", "-K", key, "-iv", iv)
	tarball := run(gz, "gzip", "-dc")
	if sum := sha1.Sum(tarball); hex.EncodeToString(sum[:]) != b.m.Digest { //nolint:gosec // format
		t.Fatalf("sha1 of the tar %x, manifest %s", sum, b.m.Digest)
	}
	out := t.TempDir()
	run(tarball, "tar", "-x", "-C", out)
	if fileSHA1(t, filepath.Join(out, "disk.img")) != fileSHA1(t, img) {
		t.Fatal("tar's disk.img differs from the image")
	}
	// The signature: RSA-SHA1 over the span, as `openssl dgst -sha1 -verify` checks it.
	s := string(b.manifest)
	span := s[strings.Index(s, "<machine_configuration>") : strings.Index(s, "</image>")+len("</image>")]
	sig, _ := hex.DecodeString(b.m.Signature)
	pub := run(nil, "openssl", "x509", "-in", certFile, "-pubkey", "-noout")
	pubFile := write("pub.pem", pub)
	sigFile := write("sig.bin", sig)
	if o := run([]byte(span), "openssl", "dgst", "-sha1", "-verify", pubFile, "-signature", sigFile); !strings.Contains(string(o), "Verified OK") {
		t.Fatalf("openssl dgst: %s", o)
	}
}

// Damaged bundles fail clearly.
func TestDamagedBundles(t *testing.T) {
	identities(t)
	img := testImage(t)
	b := writeBundle(t, img, opts())
	m, err := ParseManifest(b.manifest)
	if err != nil {
		t.Fatal(err)
	}
	key, iv, err := m.Keys(userID.Key)
	if err != nil {
		t.Fatal(err)
	}
	p1 := m.Parts[1].Filename
	orig := b.parts[p1]
	for name, damage := range map[string]struct {
		mutate func()
		want   string
	}{
		"flipped byte": {func() { d := bytes.Clone(orig); d[100] ^= 1; b.parts[p1] = d }, "part 1 (bkt-prefix.part.01, 4194304 bytes) has SHA-1"},
		"truncated":    {func() { b.parts[p1] = orig[:len(orig)-7] }, "truncated or altered"},
		"missing":      {func() { delete(b.parts, p1) }, "no part bkt-prefix.part.01"},
	} {
		damage.mutate()
		_, err := b.unbundle(t, m, key, iv)
		if err == nil || !strings.Contains(err.Error(), damage.want) {
			t.Errorf("%s: error %v, want %q", name, err, damage.want)
		}
		b.parts[p1] = orig
	}
	// A wrong key fails without writing garbage silently.
	wrong := bytes.Clone(key)
	wrong[0] ^= 1
	if _, err := b.unbundle(t, m, wrong, iv); err == nil {
		t.Error("a wrong key unbundled")
	}
	// An altered manifest (size, digest) no longer verifies.
	for _, edit := range [][2]string{
		{fmt.Sprintf("<size>%d</size>", testImageSize), fmt.Sprintf("<size>%d</size>", testImageSize+512)},
		{"<architecture>x86_64</architecture>", "<architecture>i386</architecture>"},
	} {
		alt := strings.Replace(string(b.manifest), edit[0], edit[1], 1)
		am, err := ParseManifest([]byte(alt))
		if err != nil {
			t.Fatal(err)
		}
		if err := am.Verify(userID.Cert); err == nil {
			t.Errorf("manifest with %s verified", edit[1])
		}
	}
	// A consistent part set with another digest in the manifest: the tar digest check.
	m2 := *m
	m2.Digest = strings.Repeat("0", 40)
	if _, err := b.unbundle(t, &m2, key, iv); err == nil || !strings.Contains(err.Error(), "the manifest says 0000") {
		t.Errorf("tar digest mismatch: %v", err)
	}
}

func TestParseManifestRejects(t *testing.T) {
	identities(t)
	good := `<?xml version="1.0"?><manifest><version>2007-10-10</version><machine_configuration><architecture>x86_64</architecture></machine_configuration>` +
		`<image><name>x.img</name><user>1</user><digest algorithm="SHA1">` + strings.Repeat("a", 40) + `</digest><size>10</size><bundled_size>32</bundled_size><type>machine</type>` +
		`<ec2_encrypted_key algorithm="AES-128-CBC">ab</ec2_encrypted_key><ec2_encrypted_iv>cd</ec2_encrypted_iv><parts count="1"><part index="0"><filename>x.img.part.0</filename><digest algorithm="SHA1">` +
		strings.Repeat("b", 40) + `</digest></part></parts></image><signature>00</signature></manifest>`
	if _, err := ParseManifest([]byte(good)); err != nil {
		t.Fatal(err)
	}
	for bad, want := range map[string]string{
		"2007-10-10":                        "version",
		"<filename>x.img.part.0":            "bad part file name",
		`count="1"`:                         "parts count",
		`<digest algorithm="SHA1">aaaaaaaa`: "digest",
		"<size>10":                          "image size",
		"<name>x.img":                       "image name",
	} {
		repl := map[string]string{"2007-10-10": "2010-11-15", "<filename>x.img.part.0": "<filename>../etc/passwd", `count="1"`: `count="2"`,
			`<digest algorithm="SHA1">aaaaaaaa`: `<digest algorithm="MD5">aaaaaaaa`, "<size>10": "<size>-10", "<name>x.img": "<name>a/b"}[bad]
		_, err := ParseManifest([]byte(strings.Replace(good, bad, repl, 1)))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s→%s: %v, want %q", bad, repl, err, want)
		}
	}
}

func FuzzParseManifest(f *testing.F) {
	id, err := NewIdentity("fuzz")
	if err != nil {
		f.Fatal(err)
	}
	_, text, err := Write(context.Background(), bytes.NewReader(make([]byte, 5000)), 5000,
		WriteOptions{Name: "f.img", SignKey: id.Key, CloudCert: id.Cert, PartSize: 64, KernelID: "eki-1", BlockDevices: map[string]string{"ami": "sda1"}},
		func(Part, []byte) error { return nil })
	if err != nil {
		f.Fatal(err)
	}
	f.Add(text)
	f.Add([]byte("<manifest><version>2007-10-10</version></manifest>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			return
		}
		if len(m.Parts) == 0 || len(m.Digest) != 40 || m.Size < 0 {
			t.Fatalf("accepted an inconsistent manifest: %+v", m)
		}
		for i, p := range m.Parts {
			if p.Index != i || p.Filename == "" || strings.Contains(p.Filename, "/") {
				t.Fatalf("part %d: %+v", i, p)
			}
		}
		_ = m.Verify(id.Cert)
	})
}
