package ec2

import (
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	bcommon "github.com/chromogenic/packer-plugin-chromogenic/builder/common"
)

// discover is the first part of every build: connect, then find the source and settle the
// capture method, which depends on the source (on Eucalyptus, instance-store or EBS-backed).
func discover(c *Config) []multistep.Step {
	return []multistep.Step{
		&StepConnect{Config: c},
		&StepSource{Config: c}, // the instance or image, and the capture method
	}
}

// recipe is the rest of the build once discover settled the capture method: how the source's
// root disk comes home (an instance source is first captured, with CreateImage or
// BundleInstance), the shared chroot steps, and how the result is published (the dialect:
// AWS or Eucalyptus). Every step listed runs.
func recipe(c *Config, method string, instance bool, target string) []multistep.Step {
	outputDir := &bcommon.StepOutputDir{Force: c.PackerForce, Path: c.OutputDir, FileMode: c.HostFileMode()}
	var steps []multistep.Step
	if !c.SkipRegister {
		steps = append(steps, &StepPreValidate{Config: c}) // ami_name free, encryption; before any data moves
	}
	switch method {
	case CaptureEBSDirect:
		if instance {
			steps = append(steps, &StepCreateImage{Config: c}) // intermediate AMI
		}
		steps = append(steps,
			outputDir,
			&StepDownload{Config: c, Target: target}, // EBS direct API
		)
	case CaptureBundle:
		if instance {
			steps = append(steps, &StepBundleInstance{Config: c})
		}
		steps = append(steps,
			outputDir,
			&StepDownloadBundle{Config: c, Target: target}, // download and unbundle
		)
	case CaptureAttach:
		steps = append(steps, &StepInstanceInfo{Config: c}) // this host, before anything is made
		if instance {
			steps = append(steps, &StepCreateImage{Config: c}) // intermediate AMI
		}
		steps = append(steps,
			outputDir,
			&StepCreateVolume{Config: c},               // from the root snapshot
			&StepAttachVolume{Config: c},               // to this host, wait for the device
			&StepCopyDevice{Config: c, Target: target}, // device → working copy; release
		)
	}
	if c.IsEucalyptus() {
		steps = append(steps, &StepExternalKernel{Config: c, Target: target})
	}
	steps = append(steps, bcommon.ChrootSteps(&c.ChrootConfig, c.ctx)...)
	steps = append(steps, &StepRecordWorkingCopy{}) // the capture's record: maps now, dirty blocks
	if !c.SkipRegister {
		steps = append(steps, publish(c))
		if !c.Share().Empty() {
			steps = append(steps, &StepModifyAttributes{Config: c}) // ami_users, snapshot_users...
		}
		if len(c.AMIRegions) > 0 {
			steps = append(steps, &StepRegionCopy{Config: c}) // ami_regions
		}
		steps = append(steps, &StepRecordOutputs{Config: c}) // the record names what was published
	}
	return steps
}

// publish is the registration step of the cloud's dialect.
func publish(c *Config) multistep.Step {
	if c.IsEucalyptus() {
		return &StepRegisterEucalyptus{Config: c} // bundle or ImportVolume
	}
	return &StepRegister{Config: c} // EBS direct API
}
