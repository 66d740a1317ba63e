package convert

import (
	"os"
	"path/filepath"
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
		{map[string]interface{}{"formats": []string{"ova"}, "ova": map[string]interface{}{"profile": "hyperv"}}, "profile \"hyperv\""},
		{map[string]interface{}{"formats": []string{"ova"}, "ova": map[string]interface{}{"hardware_version": 17}}, "hardware_version 17 is for profile vsphere"},
		{map[string]interface{}{"formats": []string{"ova"}, "ova": map[string]interface{}{"profile": "vsphere", "hardware_version": 9}}, "controller sata needs hardware_version 10"},
		{map[string]interface{}{"formats": []string{"ova"}, "ova": map[string]interface{}{"profile": "virtualbox", "controller": "pvscsi"}}, "controller pvscsi is for profile vsphere"},
		{map[string]interface{}{"formats": []string{"ova"}, "ova": map[string]interface{}{"controller": "nvme"}}, "ova.controller"},
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

func TestConfigureBootable(t *testing.T) {
	dir := t.TempDir()
	notKernel := filepath.Join(dir, "notakernel")
	os.WriteFile(notKernel, make([]byte, 4096), 0o644)
	bootable := func(b map[string]interface{}) map[string]interface{} {
		return map[string]interface{}{"formats": []string{"ova"}, "bootable": b}
	}
	cases := []struct {
		raw   map[string]interface{}
		field string
	}{
		{bootable(map[string]interface{}{"firmware": "coreboot"}), "bootable.firmware"},
		{bootable(map[string]interface{}{"bootloader": "lilo"}), "bootable.bootloader"},
		{bootable(map[string]interface{}{"lvm": "thin"}), "bootable.lvm"},
		{bootable(map[string]interface{}{"root_volume": "root"}), `bootable.root_volume "root": want an LVM logical volume as vg/lv`},
		{bootable(map[string]interface{}{"root_volume": "vg/lv/x"}), `bootable.root_volume "vg/lv/x"`},
		{bootable(map[string]interface{}{"root_partition": -2}), "bootable.root_partition must be 0 (find it) or a partition number, not -2"},
		{bootable(map[string]interface{}{"root_partition": 2, "root_volume": "vg/root"}), `bootable.root_partition 2 and bootable.root_volume "vg/root" are both set`},
		{bootable(map[string]interface{}{"root_subvolume": "@/../x"}), `bootable.root_subvolume: subvolume path "@/../x" climbs`},
		{bootable(map[string]interface{}{"kernel": filepath.Join(dir, "missing")}), "bootable.kernel"},
		{bootable(map[string]interface{}{"kernel": notKernel}), "bootable.kernel"},
		{bootable(map[string]interface{}{"kernel": dir}), "bootable.kernel"},
		{bootable(map[string]interface{}{"ramdisk": notKernel}), "bootable.ramdisk needs bootable.kernel"},
		{bootable(map[string]interface{}{"extra_size": "lots"}), "bootable.extra_size"},
		{map[string]interface{}{"formats": []string{"ova"}, "bootable": map[string]interface{}{"firmware": "efi"},
			"ova": map[string]interface{}{"firmware": "bios"}}, "ova.firmware"},
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
	var p PostProcessor
	if err := p.Configure(bootable(map[string]interface{}{"firmware": "UEFI", "extra_size": "1G"})); err != nil {
		t.Fatal(err)
	}
	if p.config.Bootable.Firmware != "efi" || ovaFirmwareFor(p.config.Bootable.Firmware) != "efi" || ovaFirmwareFor("both") != "bios" {
		t.Errorf("firmware %q", p.config.Bootable.Firmware)
	}
	p = PostProcessor{}
	if err := p.Configure(bootable(map[string]interface{}{"bootloader": " Extlinux"})); err != nil || p.config.Bootable.Bootloader != "extlinux" {
		t.Errorf("bootloader: %v %q", err, p.config.Bootable.Bootloader)
	}
	p = PostProcessor{}
	if err := p.Configure(bootable(map[string]interface{}{})); err != nil || p.config.Bootable.Firmware != "bios" {
		t.Errorf("empty bootable block: %v %+v", err, p.config.Bootable)
	}
	p = PostProcessor{}
	if err := p.Configure(map[string]interface{}{"formats": []string{"ova"}}); err != nil || p.config.Bootable != nil {
		t.Errorf("no bootable block: %v %+v", err, p.config.Bootable)
	}
}
