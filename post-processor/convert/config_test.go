package convert

import (
	"strings"
	"testing"
)

func TestConfigureDefaults(t *testing.T) {
	var p PostProcessor
	if err := p.Configure(map[string]interface{}{"formats": []string{"VMDK", "vhd"}}); err != nil {
		t.Fatal(err)
	}
	if p.config.FileName != "{{.Name}}" || p.config.Formats[0] != "vmdk" {
		t.Errorf("defaults: %q %v", p.config.FileName, p.config.Formats)
	}
	o := p.config.writeOptions("vmdk")
	if o.Subformat != "" || o.AdapterType != "" {
		t.Errorf("vmdk options: %+v", o)
	}
}

func TestConfigureErrorsNameTheField(t *testing.T) {
	cases := []struct {
		raw   map[string]interface{}
		field string
	}{
		{map[string]interface{}{}, "formats is required"},
		{map[string]interface{}{"formats": []string{"floppy"}}, "formats: unknown format \"floppy\""},
		{map[string]interface{}{"formats": []string{"raw", "raw"}}, "given twice"},
		{map[string]interface{}{"formats": []string{"raw"}, "checksum_types": []string{"crc32"}}, "checksum_types"},
		{map[string]interface{}{"formats": []string{"raw"}, "file_name": "a/b"}, "file_name"},
		{map[string]interface{}{"formats": []string{"raw"}, "file_name": "{{.Name"}, "file_name"},
		{map[string]interface{}{"formats": []string{"qcow2"}, "qcow2": map[string]interface{}{"compression": "lzma"}}, "qcow2.compression"},
		{map[string]interface{}{"formats": []string{"qcow2"}, "qcow2": map[string]interface{}{"level": 12}}, "qcow2.level"},
		{map[string]interface{}{"formats": []string{"vmdk"}, "vmdk": map[string]interface{}{"subformat": "twoGbMaxExtentSparse"}}, "vmdk.subformat"},
		{map[string]interface{}{"formats": []string{"vmdk"}, "vmdk": map[string]interface{}{"adapter_type": "nvme"}}, "vmdk.adapter_type"},
		{map[string]interface{}{"formats": []string{"vhd"}, "vhd": map[string]interface{}{"subformat": "differencing"}}, "vhd.subformat"},
		{map[string]interface{}{"formats": []string{"vhd"}, "vhd": map[string]interface{}{"subformat": "dynamic", "azure": true}}, "vhd.azure"},
		{map[string]interface{}{"formats": []string{"raw"}, "workers": -1}, "workers"},
	}
	for _, tc := range cases {
		var p PostProcessor
		err := p.Configure(tc.raw)
		if err == nil {
			t.Errorf("%v accepted", tc.raw)
			continue
		}
		if !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%v: error does not name %q: %v", tc.raw, tc.field, err)
		}
	}
}
