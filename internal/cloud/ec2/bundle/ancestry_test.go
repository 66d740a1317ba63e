package bundle

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// A bundle of a paravirtual image rebundled from an EMI carries its kernel, ramdisk and
// ancestry in the signed part of the manifest, as euca-bundle-vol writes them: parsed back
// equal, verified with the signer's certificate, and an altered ancestry fails the signature.
func TestManifestKernelRamdiskAncestry(t *testing.T) {
	identities(t)
	o := opts()
	o.KernelID, o.RamdiskID = "eki-1a2b3c4d", "eri-5e6f7a8b"
	o.AncestorAMIIDs = []string{"emi-00000002", "emi-00000001"}
	_, text, err := Write(context.Background(), bytes.NewReader(make([]byte, 100000)), 100000, o, func(Part, []byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	want := "<kernel_id>eki-1a2b3c4d</kernel_id><ramdisk_id>eri-5e6f7a8b</ramdisk_id>"
	if !bytes.Contains(text, []byte("<machine_configuration><architecture>x86_64</architecture>"+want)) {
		t.Errorf("machine_configuration lacks %s:\n%s", want, text)
	}
	anc := "<ancestry><ancestor_ami_id>emi-00000002</ancestor_ami_id><ancestor_ami_id>emi-00000001</ancestor_ami_id></ancestry>"
	if !bytes.Contains(text, []byte(anc)) || bytes.Index(text, []byte(anc)) > bytes.Index(text, []byte("</image>")) {
		t.Errorf("image lacks %s:\n%s", anc, text)
	}
	m, err := ParseManifest(text)
	if err != nil {
		t.Fatal(err)
	}
	if m.KernelID != o.KernelID || m.RamdiskID != o.RamdiskID || !slices.Equal(m.AncestorAMIIDs, o.AncestorAMIIDs) {
		t.Errorf("parsed kernel %q ramdisk %q ancestry %v", m.KernelID, m.RamdiskID, m.AncestorAMIIDs)
	}
	if err := m.Verify(userID.Cert); err != nil {
		t.Fatal(err)
	}
	alt, err := ParseManifest(bytes.Replace(text, []byte("emi-00000001"), []byte("emi-0000000f"), 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := alt.Verify(userID.Cert); err == nil {
		t.Error("a manifest whose ancestry was altered verifies")
	}
}

func TestParseAncestors(t *testing.T) {
	identities(t)
	got, err := parseAncestors([]string{" emi-1 , ami-2", "", "eki-3"})
	if err != nil || !slices.Equal(got, []string{"emi-1", "ami-2", "eki-3"}) {
		t.Errorf("comma lists: %v %v", got, err)
	}
	for _, bad := range [][]string{{"emi-1/../x"}, {"<x>"}, {strings.Repeat("emi-1,", MaxAncestors+1)}} {
		if _, err := parseAncestors(bad); err == nil || !strings.Contains(err.Error(), "ancestor_ami_id") {
			t.Errorf("%.40q: %v", bad, err)
		}
	}
	many := make([]string, MaxAncestors+1)
	for i := range many {
		many[i] = fmt.Sprintf("emi-%08x", i)
	}
	if _, _, err := Write(context.Background(), bytes.NewReader(nil), 0, WriteOptions{Name: "x", AncestorAMIIDs: many, SignKey: userID.Key, CloudCert: cloudID.Cert}, nil); err == nil {
		t.Error("Write took more than MaxAncestors ancestors")
	}
}

func TestAncestry(t *testing.T) {
	parent := &Manifest{AncestorAMIIDs: []string{"emi-b", "emi-a", "emi-b"}}
	if got := Ancestry("emi-c", parent); !slices.Equal(got, []string{"emi-c", "emi-b", "emi-a"}) {
		t.Errorf("Ancestry = %v", got)
	}
	if got := Ancestry("", nil); got != nil {
		t.Errorf("no source: %v", got)
	}
	if got := Ancestry("emi-c", &Manifest{AncestorAMIIDs: []string{"emi-c"}}); !slices.Equal(got, []string{"emi-c"}) {
		t.Errorf("repeat of the source: %v", got)
	}
}
