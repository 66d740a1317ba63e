package ec2emu

import (
	"fmt"
	"os"
	"strings"
	"time"
)

func (st *state) xImage(im *image) xImage {
	x := xImage{
		ImageID: im.id, ImageLocation: im.location, ImageState: im.state, ImageOwnerID: im.ownerID,
		CreationDate: im.created.Format(isoMillis), IsPublic: im.public, Architecture: im.arch,
		ImageType: imageType(im), KernelID: im.kernelID, RamdiskID: im.ramdiskID, ImageOwnerAlias: im.ownerAlias,
		Name: im.name, Description: im.description, RootDeviceType: "ebs", RootDeviceName: im.rootDevice,
		VirtualizationType: im.virtType, TagSet: st.tagList(im.id), Hypervisor: "xen", EnaSupport: im.ena,
		SriovNetSupport: im.sriov, BootMode: im.bootMode, ImdsSupport: im.imds, TpmSupport: im.tpm,
		PlatformDetails: "Linux/UNIX", UsageOperation: "RunInstances", SourceInstanceID: im.sourceInstance,
		SourceImageID: im.sourceImage, SourceImageRegion: im.sourceRegion, DeregistrationProt: "disabled",
	}
	if im.location == "" {
		x.ImageLocation = im.ownerID + "/" + im.name
	}
	if im.rootType != "" {
		x.RootDeviceType = im.rootType
	}
	if im.stateReason != "" {
		x.StateReason = &xStateReason{Code: "Client.ImageFailed", Message: im.stateReason}
	}
	for _, b := range im.bdms {
		xb := xBDM{DeviceName: b.device, VirtualName: b.virtualName}
		if b.noDevice {
			empty := ""
			xb.NoDevice = &empty
		} else if b.virtualName == "" {
			xb.Ebs = &xEbs{SnapshotID: b.snapshotID, VolumeSize: b.sizeGiB, DeleteOnTermination: b.deleteOnTermination,
				VolumeType: b.volType, Encrypted: b.encrypted}
			if b.volType == "gp3" {
				xb.Ebs.Iops, xb.Ebs.Throughput = 3000, 125
			}
		}
		x.BlockDeviceMapping = append(x.BlockDeviceMapping, xb)
	}
	return x
}

// imageType is machine, kernel (aki-, eki-) or ramdisk (ari-, eri-): the id says it.
func imageType(im *image) string {
	switch {
	case strings.HasPrefix(im.id, "aki-"), strings.HasPrefix(im.id, "eki-"):
		return "kernel"
	case strings.HasPrefix(im.id, "ari-"), strings.HasPrefix(im.id, "eri-"):
		return "ramdisk"
	}
	return "machine"
}

// checkKernelRamdisk refuses a KernelId or RamdiskId that is not a registered kernel or
// ramdisk image, as EC2 and Eucalyptus do.
func (st *state) checkKernelRamdisk(kernel, ramdisk string) *apiError {
	for _, c := range []struct{ id, typ string }{{kernel, "kernel"}, {ramdisk, "ramdisk"}} {
		if c.id == "" {
			continue
		}
		if im := st.images[c.id]; im == nil || imageType(im) != c.typ {
			return errf(400, "InvalidAMIID.NotFound", "The %s image id '[%s]' does not exist", c.typ, c.id)
		}
	}
	return nil
}

func (rc *reqCtx) describeImages(p params) (any, *apiError) {
	st := rc.s.st
	ids := p.strings("ImageId")
	owners := p.strings("Owner")
	execBy := p.strings("ExecutableBy")
	match, ae := describe(p, st.images, "ImageId", func(id string) *apiError {
		return errf(400, "InvalidAMIID.NotFound", "The image id '[%s]' does not exist", id)
	}, func(im *image) bool {
		if len(owners) > 0 {
			ok := false
			for _, o := range owners {
				ok = ok || o == im.ownerID || (o == "self" && im.ownerID == rc.s.AccountID) || (o != "" && o == im.ownerAlias)
			}
			if !ok {
				return false
			}
		}
		if len(execBy) > 0 {
			ok := false
			for _, e := range execBy {
				ok = ok || e == "all" && im.public || (e == "self" || e == rc.s.AccountID) && (im.ownerID == rc.s.AccountID || im.public || im.launchUsers[rc.s.AccountID]) || im.launchUsers[e]
			}
			if !ok {
				return false
			}
		}
		// Without ids or owners, the caller sees its own, public and shared images.
		if len(ids) == 0 && len(owners) == 0 && !(im.ownerID == rc.s.AccountID || im.public || im.launchUsers[rc.s.AccountID]) {
			return false
		}
		return true
	}, func(im *image, name string) ([]string, bool) {
		switch name {
		case "name":
			return []string{im.name}, true
		case "image-id":
			return []string{im.id}, true
		case "state":
			return []string{im.state}, true
		case "owner-id":
			return []string{im.ownerID}, true
		case "owner-alias":
			return []string{im.ownerAlias}, true
		case "architecture":
			return []string{im.arch}, true
		case "root-device-type":
			if im.rootType != "" {
				return []string{im.rootType}, true
			}
			return []string{"ebs"}, true
		case "root-device-name":
			return []string{im.rootDevice}, true
		case "virtualization-type":
			return []string{im.virtType}, true
		case "image-type":
			return []string{imageType(im)}, true
		case "kernel-id":
			return []string{im.kernelID}, true
		case "ramdisk-id":
			return []string{im.ramdiskID}, true
		case "is-public":
			return []string{boolStr(im.public)}, true
		case "description":
			return []string{im.description}, true
		case "ena-support":
			return []string{boolStr(im.ena)}, true
		case "hypervisor":
			return []string{"xen"}, true
		case "creation-date":
			return []string{im.created.Format(isoMillis)}, true
		case "block-device-mapping.snapshot-id":
			var v []string
			for _, b := range im.bdms {
				v = append(v, b.snapshotID)
			}
			return v, true
		case "block-device-mapping.device-name":
			var v []string
			for _, b := range im.bdms {
				v = append(v, b.device)
			}
			return v, true
		}
		return nil, false
	}, st.tags)
	if ae != nil {
		return nil, ae
	}
	pg, next, ae := page(p, match, 1)
	if ae != nil {
		return nil, ae
	}
	out := struct {
		Images    []xImage `xml:"imagesSet>item"`
		NextToken string   `xml:"nextToken,omitempty"`
	}{NextToken: next}
	for _, id := range pg {
		out.Images = append(out.Images, st.xImage(st.images[id]))
	}
	return out, nil
}

type imageIDOut struct {
	ImageID string `xml:"imageId"`
}

// snapshotVolume starts a background copy of a volume's file into a new pending snapshot.
func (rc *reqCtx) snapshotVolume(v *volume, description string, onDone func(err error)) *snapshot {
	s := rc.s
	st := s.st
	now := time.Now().UTC()
	sn := &snapshot{id: st.id("snap"), volumeID: v.id, description: description, ownerID: s.AccountID,
		state: "pending", sizeGiB: v.sizeGiB, start: now, readyAt: now, encrypted: v.encrypted, kmsKeyID: v.kmsKeyID}
	st.snapshots[sn.id] = sn
	path := v.path
	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
		m, _, err := s.blocks.importFile(path)
		s.mu.Lock()
		defer s.mu.Unlock()
		if err != nil {
			sn.state, sn.statusMessage = "error", err.Error()
			sn.blocks = blockMap{}
		} else {
			sn.blocks = m
			sn.readyAt = time.Now().Add(s.opts.SnapshotDelay)
		}
		if onDone != nil {
			onDone(err)
		}
	}()
	return sn
}

func (rc *reqCtx) createImage(p params) (any, *apiError) {
	s := rc.s
	st := s.st
	iid := p.get("InstanceId")
	in := st.instances[iid]
	if iid == "" {
		return nil, errf(400, "MissingParameter", "The request must contain the parameter InstanceId")
	}
	if in == nil {
		return nil, errf(400, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", iid)
	}
	if in.state != "running" && in.state != "stopped" {
		return nil, errf(400, "IncorrectInstanceState", "The instance '%s' is not in the 'running' or 'stopped' state.", iid)
	}
	if in.rootDisk != "" {
		return nil, errf(400, "InvalidParameterValue", "CreateImage is for EBS-backed instances; %s is instance-store backed (use BundleInstance)", iid)
	}
	name := p.get("Name")
	if name == "" {
		return nil, errf(400, "MissingParameter", "The request must contain the parameter Name")
	}
	if ae := validName(name); ae != nil {
		return nil, ae
	}
	if st.nameTaken(s.AccountID, name) {
		return nil, errf(400, "InvalidAMIName.Duplicate", "AMI name %s is already in use by AMI", name)
	}
	if ae := validTagSpecTypes(p, "image", "snapshot"); ae != nil {
		return nil, ae
	}
	noReboot, _ := p.boolean("NoReboot")
	overrides := map[string]params{}
	for _, b := range p.list("BlockDeviceMapping") {
		overrides[b.get("DeviceName")] = b
	}
	now := time.Now().UTC()
	im := &image{id: st.id("ami"), name: name, description: p.get("Description"), ownerID: s.AccountID,
		state: "pending", arch: in.arch, rootDevice: in.rootDevice, virtType: "hvm", bootMode: in.bootMode,
		ena: in.ena, sourceInstance: in.id, created: now, readyAt: now.Add(s.opts.ImageDelay)}
	snapTags := tagSpecs(p, "snapshot")
	pending := 0
	for _, vid := range sortedKeys(st.volumes) {
		v := st.volumes[vid]
		if v.attInstance != in.id {
			continue
		}
		b := bdm{device: v.attDevice, sizeGiB: v.sizeGiB, volType: v.volType, deleteOnTermination: v.deleteOnTermination, encrypted: v.encrypted}
		if o, ok := overrides[v.attDevice]; ok {
			delete(overrides, v.attDevice)
			if o.has("NoDevice") {
				if v.attDevice == in.rootDevice {
					return nil, errf(400, "InvalidBlockDeviceMapping", "The root device cannot be excluded")
				}
				continue
			}
			if n := o.int64("Ebs.VolumeSize"); n > 0 {
				if n < v.sizeGiB {
					return nil, errf(400, "InvalidBlockDeviceMapping", "Volume of size %dGB is smaller than snapshot '%s', expect size >= %dGB", n, v.id, v.sizeGiB)
				}
				b.sizeGiB = n
			}
			if t := o.get("Ebs.VolumeType"); t != "" {
				b.volType = t
			}
			if d, set := o.boolean("Ebs.DeleteOnTermination"); set {
				b.deleteOnTermination = d
			}
		}
		pending++
		sn := rc.snapshotVolume(v, fmt.Sprintf("Created by CreateImage(%s) for %s", in.id, im.id), func(err error) {
			pending--
			if err != nil {
				im.failed = "snapshot: " + err.Error()
			}
			if pending == 0 {
				im.pendingWork = false
				if r := time.Now().Add(s.opts.ImageDelay); r.After(im.readyAt) {
					im.readyAt = r
				}
			}
		})
		st.setTags(sn.id, snapTags)
		b.snapshotID = sn.id
		im.bdms = append(im.bdms, b)
	}
	for dev, o := range overrides {
		if o.has("NoDevice") {
			continue
		}
		b := bdm{device: dev, virtualName: o.get("VirtualName"), sizeGiB: o.int64("Ebs.VolumeSize"),
			volType: o.get("Ebs.VolumeType"), snapshotID: o.get("Ebs.SnapshotId")}
		if b.volType == "" && b.virtualName == "" {
			b.volType = "gp3"
		}
		b.deleteOnTermination, _ = o.boolean("Ebs.DeleteOnTermination")
		im.bdms = append(im.bdms, b)
	}
	im.pendingWork = pending > 0
	st.images[im.id] = im
	st.setTags(im.id, tagSpecs(p, "image"))
	s.logf("CreateImage %s from %s (NoReboot=%v)", im.id, in.id, noReboot)
	if !noReboot {
		in.reboots++ // AWS reboots the instance for a consistent file system
	}
	return imageIDOut{ImageID: im.id}, nil
}

func (rc *reqCtx) registerImage(p params) (any, *apiError) {
	s := rc.s
	st := s.st
	name := p.get("Name")
	if name == "" {
		return nil, errf(400, "MissingParameter", "The request must contain the parameter name")
	}
	if ae := validName(name); ae != nil {
		return nil, ae
	}
	if st.nameTaken(s.AccountID, name) {
		return nil, errf(400, "InvalidAMIName.Duplicate", "AMI name %s is already in use by AMI", name)
	}
	if ae := validTagSpecTypes(p, "image"); ae != nil {
		return nil, ae
	}
	if loc := p.get("ImageLocation"); loc != "" && len(p.list("BlockDeviceMapping")) == 0 {
		if ae := st.checkKernelRamdisk(p.get("KernelId"), p.get("RamdiskId")); ae != nil {
			return nil, ae
		}
		im, ae := s.registerBundle(name, p.get("Description"), loc, p.get("Architecture"), p.get("VirtualizationType"), p.get("RootDeviceName"), true)
		if ae != nil {
			return nil, ae
		}
		if k := p.get("KernelId"); k != "" && imageType(im) == "machine" {
			im.kernelID = k
		}
		if r := p.get("RamdiskId"); r != "" && imageType(im) == "machine" {
			im.ramdiskID = r
		}
		st.setTags(im.id, tagSpecs(p, "image"))
		return imageIDOut{ImageID: im.id}, nil
	}
	now := time.Now().UTC()
	im := &image{id: st.id("ami"), name: name, description: p.get("Description"), ownerID: s.AccountID,
		state: "pending", arch: p.get("Architecture"), rootDevice: p.get("RootDeviceName"),
		virtType: p.get("VirtualizationType"), bootMode: p.get("BootMode"), sriov: p.get("SriovNetSupport"),
		imds: p.get("ImdsSupport"), tpm: p.get("TpmSupport"), location: p.get("ImageLocation"),
		kernelID: p.get("KernelId"), ramdiskID: p.get("RamdiskId"), created: now, readyAt: now.Add(s.opts.ImageDelay)}
	if ae := st.checkKernelRamdisk(im.kernelID, im.ramdiskID); ae != nil {
		return nil, ae
	}
	im.ena, _ = p.boolean("EnaSupport")
	if im.arch == "" {
		im.arch = "x86_64"
	}
	if im.virtType == "" {
		im.virtType = "paravirtual"
	}
	switch im.arch {
	case "i386", "x86_64", "arm64", "x86_64_mac", "arm64_mac":
	default:
		return nil, errf(400, "InvalidParameterValue", "Value (%s) for parameter architecture is invalid.", im.arch)
	}
	switch im.virtType {
	case "hvm", "paravirtual":
	default:
		return nil, errf(400, "InvalidParameterValue", "Value (%s) for parameter virtualizationType is invalid.", im.virtType)
	}
	switch im.bootMode {
	case "", "legacy-bios", "uefi", "uefi-preferred":
	default:
		return nil, errf(400, "InvalidParameterValue", "Value (%s) for parameter bootMode is invalid.", im.bootMode)
	}
	if im.arch == "arm64" && im.bootMode == "legacy-bios" {
		return nil, errf(400, "InvalidParameterCombination", "arm64 images do not support legacy-bios boot mode")
	}
	if im.tpm != "" && im.tpm != "v2.0" {
		return nil, errf(400, "InvalidParameterValue", "Value (%s) for parameter tpmSupport is invalid.", im.tpm)
	}
	if im.tpm != "" && im.bootMode != "uefi" {
		return nil, errf(400, "InvalidParameterCombination", "NitroTPM requires the uefi boot mode")
	}
	if im.imds != "" && im.imds != "v2.0" {
		return nil, errf(400, "InvalidParameterValue", "Value (%s) for parameter imdsSupport is invalid.", im.imds)
	}
	if im.sriov != "" && im.sriov != "simple" {
		return nil, errf(400, "InvalidParameterValue", "Value (%s) for parameter sriovNetSupport is invalid.", im.sriov)
	}
	if im.virtType == "paravirtual" && im.ena {
		return nil, errf(400, "InvalidParameterCombination", "Enhanced networking with the Elastic Network Adapter (ENA) requires HVM")
	}
	rootFound := false
	for _, b := range p.list("BlockDeviceMapping") {
		d := bdm{device: b.get("DeviceName"), virtualName: b.get("VirtualName"), noDevice: b.has("NoDevice"),
			snapshotID: b.get("Ebs.SnapshotId"), sizeGiB: b.int64("Ebs.VolumeSize"), volType: b.get("Ebs.VolumeType")}
		if d.device == "" {
			return nil, errf(400, "InvalidBlockDeviceMapping", "device name missing")
		}
		d.deleteOnTermination = true
		if v, set := b.boolean("Ebs.DeleteOnTermination"); set {
			d.deleteOnTermination = v
		}
		d.encrypted, _ = b.boolean("Ebs.Encrypted")
		if b.has("Ebs.SnapshotId") || b.has("Ebs.VolumeSize") {
			if d.volType == "" {
				d.volType = "gp2"
			}
			if d.snapshotID != "" {
				sn := st.snapshots[d.snapshotID]
				if sn == nil {
					return nil, errf(400, "InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", d.snapshotID)
				}
				if sn.state != "completed" {
					return nil, errf(400, "IncorrectState", "Snapshot '%s' is not 'completed'.", d.snapshotID)
				}
				d.encrypted = d.encrypted || sn.encrypted // a volume of an encrypted snapshot is encrypted
				if d.sizeGiB == 0 {
					d.sizeGiB = sn.sizeGiB
				} else if d.sizeGiB < sn.sizeGiB {
					return nil, errf(400, "InvalidBlockDeviceMapping", "Volume of size %dGB is smaller than snapshot '%s', expect size >= %dGB", d.sizeGiB, sn.id, sn.sizeGiB)
				}
			}
		}
		if d.device == im.rootDevice {
			rootFound = true
			if d.snapshotID == "" {
				return nil, errf(400, "InvalidBlockDeviceMapping", "The root device %s must have a snapshot", d.device)
			}
		}
		im.bdms = append(im.bdms, d)
	}
	if im.location == "" {
		if im.rootDevice == "" {
			return nil, errf(400, "MissingParameter", "The request must contain the parameter rootDeviceName")
		}
		if !rootFound {
			return nil, errf(400, "InvalidBlockDeviceMapping", "The device '%s' in the root device name is not in the block device mapping", im.rootDevice)
		}
	}
	st.images[im.id] = im
	st.setTags(im.id, tagSpecs(p, "image"))
	return imageIDOut{ImageID: im.id}, nil
}

func (st *state) snapshotInUse(id string) string {
	for _, im := range st.images {
		for _, b := range im.bdms {
			if b.snapshotID == id {
				return im.id
			}
		}
	}
	return ""
}

func (rc *reqCtx) deregisterImage(p params) (any, *apiError) {
	st := rc.s.st
	id := p.get("ImageId")
	im := st.images[id]
	if im == nil {
		return nil, errf(400, "InvalidAMIID.NotFound", "The image id '[%s]' does not exist", id)
	}
	if im.ownerID != rc.s.AccountID {
		return nil, errf(400, "AuthFailure", "Not authorized for image:%s", id)
	}
	delete(st.images, id)
	delete(st.tags, id)
	if im.diskPath != "" && !im.pendingWork {
		os.Remove(im.diskPath)
	}
	type result struct {
		SnapshotID string `xml:"snapshotId"`
		ReturnCode string `xml:"returnCode"`
	}
	out := struct {
		Return  bool     `xml:"return"`
		Results []result `xml:"deleteSnapshotResultSet>item,omitempty"`
	}{Return: true}
	if del, _ := p.boolean("DeleteAssociatedSnapshots"); del {
		for _, b := range im.bdms {
			if b.snapshotID == "" || st.snapshots[b.snapshotID] == nil {
				continue
			}
			if other := st.snapshotInUse(b.snapshotID); other != "" {
				out.Results = append(out.Results, result{b.snapshotID, "error-generic"})
				continue
			}
			delete(st.snapshots, b.snapshotID)
			delete(st.tags, b.snapshotID)
			out.Results = append(out.Results, result{b.snapshotID, "success"})
		}
	}
	return out, nil
}

func (rc *reqCtx) modifyImageAttribute(p params) (any, *apiError) {
	st := rc.s.st
	im := st.images[p.get("ImageId")]
	if im == nil {
		return nil, errf(400, "InvalidAMIID.NotFound", "The image id '[%s]' does not exist", p.get("ImageId"))
	}
	attr := p.get("Attribute")
	if p.has("Description.Value") {
		im.description = p.get("Description.Value")
		return nil, nil
	}
	if attr == "description" {
		im.description = p.get("Value")
		return nil, nil
	}
	if attr != "" && attr != "launchPermission" {
		return nil, errf(400, "InvalidParameterValue", "attribute %s is not supported by the emulator", attr)
	}
	apply := func(add bool, users, groups []string) *apiError {
		for _, g := range groups {
			if g != "all" {
				return errf(400, "InvalidParameterValue", "Invalid value '%s' for userGroup", g)
			}
			im.public = add
		}
		for _, u := range users {
			if len(u) != 12 {
				return errf(400, "InvalidUserID.Malformed", "User ID '%s' is invalid", u)
			}
			if im.launchUsers == nil {
				im.launchUsers = map[string]bool{}
			}
			if add {
				im.launchUsers[u] = true
			} else {
				delete(im.launchUsers, u)
			}
		}
		return nil
	}
	if op := p.get("OperationType"); op != "" {
		if op != "add" && op != "remove" {
			return nil, errf(400, "InvalidParameterValue", "Invalid operationType %s", op)
		}
		if ae := apply(op == "add", p.strings("UserId"), p.strings("UserGroup")); ae != nil {
			return nil, ae
		}
	}
	for _, mod := range []string{"Add", "Remove"} {
		var users, groups []string
		for _, lp := range p.sub("LaunchPermission").list(mod) {
			if u := lp.get("UserId"); u != "" {
				users = append(users, u)
			}
			if g := lp.get("Group"); g != "" {
				groups = append(groups, g)
			}
		}
		if ae := apply(mod == "Add", users, groups); ae != nil {
			return nil, ae
		}
	}
	return nil, st.launchARNs(p, im.id)
}

func (rc *reqCtx) describeImageAttribute(p params) (any, *apiError) {
	st := rc.s.st
	im := st.images[p.get("ImageId")]
	if im == nil {
		return nil, errf(400, "InvalidAMIID.NotFound", "The image id '[%s]' does not exist", p.get("ImageId"))
	}
	type out struct {
		ImageID            string              `xml:"imageId"`
		LaunchPermission   []xLaunchPermission `xml:"launchPermission>item,omitempty"`
		Description        *xValue             `xml:"description,omitempty"`
		BootMode           *xValue             `xml:"bootMode,omitempty"`
		SriovNetSupport    *xValue             `xml:"sriovNetSupport,omitempty"`
		Kernel             *xValue             `xml:"kernel,omitempty"`
		Ramdisk            *xValue             `xml:"ramdisk,omitempty"`
		ImdsSupport        *xValue             `xml:"imdsSupport,omitempty"`
		TpmSupport         *xValue             `xml:"tpmSupport,omitempty"`
		BlockDeviceMapping []xBDM              `xml:"blockDeviceMapping>item,omitempty"`
	}
	o := out{ImageID: im.id}
	switch attr := p.get("Attribute"); attr {
	case "launchPermission":
		if im.public {
			o.LaunchPermission = append(o.LaunchPermission, xLaunchPermission{Group: "all"})
		}
		for _, u := range sortedKeys(im.launchUsers) {
			o.LaunchPermission = append(o.LaunchPermission, xLaunchPermission{UserID: u})
		}
		o.LaunchPermission = append(o.LaunchPermission, st.launchARNList(im.id)...)
	case "description":
		o.Description = &xValue{im.description}
	case "bootMode":
		o.BootMode = &xValue{im.bootMode}
	case "sriovNetSupport":
		o.SriovNetSupport = &xValue{im.sriov}
	case "kernel":
		o.Kernel = &xValue{im.kernelID}
	case "ramdisk":
		o.Ramdisk = &xValue{im.ramdiskID}
	case "imdsSupport":
		o.ImdsSupport = &xValue{im.imds}
	case "tpmSupport":
		o.TpmSupport = &xValue{im.tpm}
	case "blockDeviceMapping":
		o.BlockDeviceMapping = st.xImage(im).BlockDeviceMapping
	default:
		return nil, errf(400, "InvalidParameterValue", "Value (%s) for parameter attribute is invalid.", attr)
	}
	return o, nil
}
