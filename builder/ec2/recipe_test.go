package ec2

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	ec2common "github.com/chromogenic/packer-plugin-chromogenic/common/ec2"
)

// The recipe lists exactly the steps of the capture method, the source kind and the dialect.
func TestRecipe(t *testing.T) {
	names := func(steps []multistep.Step) string {
		var out []string
		for _, s := range steps {
			n := reflect.TypeOf(s).Elem().Name()
			switch n {
			case "StepOpenImage", "StepMountChroot", "StepCopyFiles", "StepChrootProvision", "StepRelease":
				continue // bcommon.ChrootSteps
			}
			out = append(out, strings.TrimPrefix(n, "Step"))
		}
		return strings.Join(out, " ")
	}
	aws := &Config{}
	euca := &Config{Eucalyptus: &ec2common.EucalyptusConfig{}}
	skip := &Config{SkipRegister: true}
	for _, tc := range []struct {
		c        *Config
		method   string
		instance bool
		want     string
	}{
		{aws, CaptureEBSDirect, false, "PreValidate OutputDir Download RecordWorkingCopy Register RecordOutputs"},
		{aws, CaptureEBSDirect, true, "PreValidate CreateImage OutputDir Download RecordWorkingCopy Register RecordOutputs"},
		{aws, CaptureAttach, false, "PreValidate InstanceInfo OutputDir CreateVolume AttachVolume CopyDevice RecordWorkingCopy Register RecordOutputs"},
		{aws, CaptureAttach, true, "PreValidate InstanceInfo CreateImage OutputDir CreateVolume AttachVolume CopyDevice RecordWorkingCopy Register RecordOutputs"},
		{skip, CaptureEBSDirect, false, "OutputDir Download RecordWorkingCopy"},
		{euca, CaptureBundle, false, "PreValidate OutputDir DownloadBundle ExternalKernel RecordWorkingCopy RegisterEucalyptus RecordOutputs"},
		{euca, CaptureBundle, true, "PreValidate BundleInstance OutputDir DownloadBundle ExternalKernel RecordWorkingCopy RegisterEucalyptus RecordOutputs"},
		{euca, CaptureAttach, true, "PreValidate InstanceInfo CreateImage OutputDir CreateVolume AttachVolume CopyDevice ExternalKernel RecordWorkingCopy RegisterEucalyptus RecordOutputs"},
	} {
		t.Run(fmt.Sprintf("%s/%v/%v", tc.method, tc.instance, tc.c.IsEucalyptus()), func(t *testing.T) {
			if got := names(recipe(tc.c, tc.method, tc.instance, "x.raw")); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
