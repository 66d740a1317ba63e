package ova

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
)

// The manifest (<descriptor base>.mf) lists a digest per member, one line each:
// `SHA256(name.vmdk)= hex`, as ovftool and VBoxManage write it; SHA1 (old ESXi,
// VirtualBox before 5), SHA256 and SHA512 are read. It is untrusted like every member: it
// is read only up to maxManifest bytes and maxMembers lines, each line must be a digest of
// the right length for its algorithm naming a member the archive holds, at most once.
// Open parses it; Verify hashes the members it names.

const maxManifest = 1 << 20

// Digest is one line of the manifest.
type Digest struct {
	Algorithm string // "sha1", "sha256", "sha512"
	File      string
	Hex       string // lower case
}

var reManifestLine = regexp.MustCompile(`^(SHA1|SHA256|SHA512|MD5)\s*\((.+)\)\s*=\s*([0-9A-Fa-f]+)$`)

var digestLen = map[string]int{"sha1": 40, "sha256": 64, "sha512": 128}

// manifestName is the manifest of the descriptor desc: the same base name with .mf.
func manifestName(desc string) string {
	return strings.TrimSuffix(desc, path.Ext(desc)) + ".mf"
}

// parseManifest parses the manifest mf (its bytes b) against the archive's members.
func parseManifest(mf string, b []byte, members map[string]ArchiveMember) ([]Digest, error) {
	var out []Digest
	seen := map[string]bool{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if len(out) == maxMembers {
			return nil, fmt.Errorf("manifest %s: more than %d lines", mf, maxMembers)
		}
		m := reManifestLine.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("manifest %s line %d: not ALGORITHM(file)= digest", mf, i+1)
		}
		alg, file, sum := strings.ToLower(m[1]), m[2], strings.ToLower(m[3])
		n, ok := digestLen[alg]
		if !ok {
			return nil, fmt.Errorf("manifest %s line %d: digest algorithm %s is not supported (SHA1, SHA256, SHA512)", mf, i+1, m[1])
		}
		if len(sum) != n {
			return nil, fmt.Errorf("manifest %s line %d: %s digest of %s has %d hex digits, not %d", mf, i+1, m[1], file, len(sum), n)
		}
		if _, ok := members[file]; !ok {
			return nil, fmt.Errorf("manifest %s line %d: %s is not in the archive", mf, i+1, file)
		}
		if seen[file] {
			return nil, fmt.Errorf("manifest %s line %d: %s is listed twice", mf, i+1, file)
		}
		seen[file] = true
		out = append(out, Digest{Algorithm: alg, File: file, Hex: sum})
	}
	return out, nil
}

// Verify hashes every member the manifest lists and compares it with the manifest's
// digest; the error names the first member that differs. An archive without a manifest
// (Archive.Manifest == "") has nothing to verify and passes. It reads every listed member
// once, the disks included.
func (a *Archive) Verify(ctx context.Context) error {
	byName := map[string]ArchiveMember{}
	for _, m := range a.Members {
		byName[m.Name] = m
	}
	for _, d := range a.Digests {
		m := byName[d.File]
		h := newHash(d.Algorithm)
		r := io.NewSectionReader(a.f, m.Offset, m.Size)
		if _, err := io.Copy(h, ctxReader{ctx, r}); err != nil {
			return fmt.Errorf("OVA %s: reading %s for its digest: %w", a.Path, d.File, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != d.Hex {
			return fmt.Errorf("OVA %s: %s does not match its manifest %s: %s digest %s, manifest says %s",
				a.Path, d.File, a.Manifest, strings.ToUpper(d.Algorithm), got, d.Hex)
		}
	}
	return nil
}

// ctxReader stops a long read when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
