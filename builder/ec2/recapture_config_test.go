package ec2

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromogenic/packer-plugin-chromogenic/internal/provenance"
)

// base_provenance is read in Prepare: a missing or damaged file, a record of another cloud,
// without a block map, whose working copy is in output_directory, or without a snapshot for
// a changed-block recapture (ebs-direct) are errors naming the field or the file; a good
// record is kept for the build, and attach takes one without a snapshot.
func TestPrepareBaseProvenance(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, edit func(r *provenance.Record)) string {
		r := provenance.New(BuilderID)
		r.Source = provenance.Source{Cloud: "aws", Region: "us-east-1", Instance: "i-1", Snapshots: []string{"snap-1"}}
		r.WorkingCopy = &provenance.BlockMap{Path: filepath.Join(dir, "w.raw"), Size: 2 * provenance.BlockSize, BlockSize: provenance.BlockSize, Blocks: []string{"", ""}}
		edit(r)
		p := filepath.Join(dir, name)
		if err := r.Write(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", func(*provenance.Record) {})
	damaged := filepath.Join(dir, "damaged.json")
	os.WriteFile(damaged, []byte("{"), 0o644)
	for _, tc := range []struct {
		path, want string
		extra      map[string]interface{}
	}{
		{filepath.Join(dir, "missing.json"), "base_provenance: provenance: open", nil},
		{damaged, "base_provenance: provenance " + damaged, nil},
		{write("openstack.json", func(r *provenance.Record) { r.Source.Cloud = "openstack" }), `its source cloud is "openstack", this build captures from aws`, nil},
		{write("inside.json", func(r *provenance.Record) { r.WorkingCopy.Path = filepath.Join(dir, "out", "w.raw") }), "is in this build's output_directory", map[string]interface{}{"output_directory": filepath.Join(dir, "out")}},
		{write("nomap.json", func(r *provenance.Record) { r.WorkingCopy = nil }), "records no working copy block map", nil},
		{write("nosnap.json", func(r *provenance.Record) { r.Source.Snapshots = nil }), "names no snapshot", nil},
		{good, "keep_capture_snapshot applies to instance captures", map[string]interface{}{"instance_id": "", "source_ami": "ami-1", "keep_capture_snapshot": true}},
	} {
		m := map[string]interface{}{"instance_id": "i-1", "ami_name": "recaptured", "base_provenance": tc.path}
		for k, v := range tc.extra {
			m[k] = v
		}
		var c Config
		err := c.Prepare(m)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", filepath.Base(tc.path), err, tc.want)
		}
	}
	var c Config
	if err := c.Prepare(map[string]interface{}{"instance_id": "i-1", "ami_name": "recaptured", "base_provenance": good, "keep_capture_snapshot": true}); err != nil {
		t.Fatal(err)
	}
	if c.baseRecord == nil || c.baseRecord.Source.Instance != "i-1" {
		t.Errorf("base record %+v", c.baseRecord)
	}
}

// A base from another source is refused, naming both; the same instance, or (for an AMI
// source) a snapshot of one of the base's volumes or the same image, is the same lineage.
func TestSameLineage(t *testing.T) {
	base := provenance.Source{Cloud: "aws", Region: "r", Instance: "i-1", Volumes: []string{"vol-1"}}
	if err := sameLineage(base, provenance.Source{Region: "r", Instance: "i-1", Volumes: []string{"vol-9"}}, "b.json"); err != nil {
		t.Error(err)
	}
	if err := sameLineage(base, provenance.Source{Region: "r", Image: "ami-1", Volumes: []string{"vol-1"}}, "b.json"); err != nil {
		t.Error(err)
	}
	err := sameLineage(base, provenance.Source{Region: "r", Instance: "i-2", Volumes: []string{"vol-1"}}, "b.json")
	if err == nil || !strings.Contains(err.Error(), "i-1") || !strings.Contains(err.Error(), "i-2") || !strings.Contains(err.Error(), "another source") {
		t.Errorf("another instance: %v", err)
	}
	if err := sameLineage(base, provenance.Source{Region: "r", Image: "ami-1", Volumes: []string{"vol-2"}}, "b.json"); err == nil {
		t.Error("another volume accepted")
	}
	if err := sameLineage(base, provenance.Source{Region: "s", Instance: "i-1"}, "b.json"); err == nil || !strings.Contains(err.Error(), "region") {
		t.Errorf("another region: %v", err)
	}
	// An image source without volumes (a Eucalyptus EMI's bundle): the same image only, and
	// never when the base captured an instance.
	emi := provenance.Source{Cloud: "eucalyptus", Image: "emi-1"}
	if err := sameLineage(emi, emi, "b.json"); err != nil {
		t.Errorf("the same EMI: %v", err)
	}
	if err := sameLineage(emi, provenance.Source{Cloud: "eucalyptus", Image: "emi-2"}, "b.json"); err == nil || !strings.Contains(err.Error(), "emi-1") {
		t.Errorf("another EMI: %v", err)
	}
	if err := sameLineage(provenance.Source{Instance: "i-1", Image: "emi-1"}, emi, "b.json"); err == nil {
		t.Error("an instance's base taken for its image")
	}
}

// base_provenance with the capture methods that read the source whole: attach (AWS) takes a
// record without a snapshot; a Eucalyptus build takes a eucalyptus record and refuses an aws
// one, naming both clouds.
func TestPrepareBaseProvenanceWhole(t *testing.T) {
	clearEucarc(t)
	dir := t.TempDir()
	write := func(name, cloud string) string {
		r := provenance.New(BuilderID)
		r.Source = provenance.Source{Cloud: cloud, Image: "emi-1"}
		r.WorkingCopy = &provenance.BlockMap{Path: filepath.Join(dir, "w.raw"), Size: provenance.BlockSize, BlockSize: provenance.BlockSize, Blocks: []string{""}}
		p := filepath.Join(dir, name)
		if err := r.Write(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	aws, euca := write("aws.json", "aws"), write("euca.json", "eucalyptus")
	var c Config
	if err := c.Prepare(map[string]interface{}{"source_ami": "ami-1", "skip_register": true, "capture_method": "attach", "base_provenance": aws}); err != nil || c.baseRecord == nil {
		t.Errorf("attach with a record without a snapshot: %v", err)
	}
	k := eucaKeys(t)
	eucaCfg := func(rec string) map[string]interface{} {
		return map[string]interface{}{"source_ami": "emi-1", "skip_register": true, "custom_endpoint_ec2": "https://clc:8773/services/compute",
			"eucalyptus": map[string]interface{}{"bucket": "b", "user_private_key_file": k.userKey, "user_cert_file": k.userCert}, "base_provenance": rec}
	}
	c = Config{}
	if err := c.Prepare(eucaCfg(euca)); err != nil || c.baseRecord == nil {
		t.Errorf("eucalyptus record: %v", err)
	}
	c = Config{}
	if err := c.Prepare(eucaCfg(aws)); err == nil || !strings.Contains(err.Error(), `base_provenance `+aws+`: its source cloud is "aws", this build captures from eucalyptus`) {
		t.Errorf("aws record on eucalyptus: %v", err)
	}
}
