package ec2emu

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

func (st *state) xSnapshot(sn *snapshot) xSnapshot {
	x := xSnapshot{SnapshotID: sn.id, VolumeID: sn.volumeID, Status: sn.state, StatusMessage: sn.statusMessage,
		StartTime: sn.start.Format(isoMillis), OwnerID: sn.ownerID, VolumeSize: sn.sizeGiB,
		Description: sn.description, StorageTier: "standard", TagSet: st.tagList(sn.id), SseType: "none",
		Encrypted: sn.encrypted, KmsKeyID: sn.kmsKeyID}
	switch sn.state {
	case "completed":
		x.Progress = "100%"
		x.Completion = sn.readyAt.UTC().Format(isoMillis)
		x.FullSize = int64(len(sn.blocks)) * BlockSize
	case "pending":
		x.Progress = "0%"
		if sn.blocks != nil && !sn.directOpen {
			x.Progress = "99%"
		}
	default:
		x.Progress = "0%"
	}
	return x
}

func (rc *reqCtx) describeSnapshots(p params) (any, *apiError) {
	st := rc.s.st
	owners := p.strings("Owner")
	match, ae := describe(p, st.snapshots, "SnapshotId", func(id string) *apiError {
		return errf(400, "InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", id)
	}, func(sn *snapshot) bool {
		return len(owners) == 0 || contains(owners, sn.ownerID) || contains(owners, "self") && sn.ownerID == rc.s.AccountID
	}, func(sn *snapshot, name string) ([]string, bool) {
		switch name {
		case "snapshot-id":
			return []string{sn.id}, true
		case "status":
			return []string{sn.state}, true
		case "volume-id":
			return []string{sn.volumeID}, true
		case "owner-id":
			return []string{sn.ownerID}, true
		case "description":
			return []string{sn.description}, true
		case "volume-size":
			return []string{fmt.Sprint(sn.sizeGiB)}, true
		}
		return nil, false
	}, st.tags)
	if ae != nil {
		return nil, ae
	}
	pg, next, ae := page(p, match, 5)
	if ae != nil {
		return nil, ae
	}
	out := struct {
		Snapshots []xSnapshot `xml:"snapshotSet>item"`
		NextToken string      `xml:"nextToken,omitempty"`
	}{NextToken: next}
	for _, id := range pg {
		out.Snapshots = append(out.Snapshots, st.xSnapshot(st.snapshots[id]))
	}
	return out, nil
}

func (rc *reqCtx) createSnapshot(p params) (any, *apiError) {
	st := rc.s.st
	v := st.volumes[p.get("VolumeId")]
	if v == nil {
		return nil, errf(400, "InvalidVolume.NotFound", "The volume '%s' does not exist.", p.get("VolumeId"))
	}
	if ae := validTagSpecTypes(p, "snapshot"); ae != nil {
		return nil, ae
	}
	sn := rc.snapshotVolume(v, p.get("Description"), nil)
	st.setTags(sn.id, tagSpecs(p, "snapshot"))
	return st.xSnapshot(sn), nil
}

func (rc *reqCtx) deleteSnapshot(p params) (any, *apiError) {
	st := rc.s.st
	id := p.get("SnapshotId")
	sn := st.snapshots[id]
	if sn == nil {
		return nil, errf(400, "InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", id)
	}
	if im := st.snapshotInUse(id); im != "" {
		return nil, errf(400, "InvalidSnapshot.InUse", "The snapshot %s is currently in use by %s", id, im)
	}
	if sn.ownerID != rc.s.AccountID {
		return nil, errf(400, "UnauthorizedOperation", "You are not authorized to delete snapshot %s", id)
	}
	delete(st.snapshots, id)
	delete(st.tags, id)
	return struct {
		Return bool `xml:"return"`
	}{true}, nil
}

// ---- volumes ----

func (st *state) xVolume(v *volume) xVolume {
	x := xVolume{VolumeID: v.id, Size: v.sizeGiB, SnapshotID: v.snapshotID, AvailabilityZone: v.az,
		Status: v.state, CreateTime: v.created.Format(isoMillis), TagSet: st.tagList(v.id), VolumeType: v.volType,
		Iops: 3000, Throughput: 125, Encrypted: v.encrypted, KmsKeyID: v.kmsKeyID}
	if v.volType != "gp3" {
		x.Throughput = 0
	}
	if v.attInstance != "" {
		x.AttachmentSet = []xAttachment{{VolumeID: v.id, InstanceID: v.attInstance, Device: v.attDevice,
			Status: v.attState, AttachTime: v.attTime.Format(isoMillis), DeleteOnTermination: v.deleteOnTermination}}
	}
	return x
}

// tickVolumes advances volume and attachment states: creating → available, attaching →
// attached, detaching → available (or busy while the host still holds the device).
func (st *state) tickVolumes(now time.Time) {
	for _, v := range st.volumes {
		if v.state == "creating" && !now.Before(v.readyAt) {
			v.state = "available"
		}
		if v.attInstance == "" {
			continue
		}
		switch v.attState {
		case "attaching":
			if !now.Before(v.attReady) {
				v.attState = "attached"
			}
		case "detaching", "busy":
			if now.Before(v.detachAt) {
				continue
			}
			if v.loop != nil {
				if err := v.loop.release(v.forceDetach); err != nil {
					if v.attState != "busy" {
						st.s.logf("detach %s: %v", v.id, err)
						st.s.busyDetaches++
					}
					v.attState = "busy"
					continue
				}
				v.loop = nil
			}
			v.attInstance, v.attDevice, v.attState, v.state, v.forceDetach = "", "", "", "available", false
		}
	}
}

func (rc *reqCtx) createVolume(p params) (any, *apiError) {
	s := rc.s
	st := s.st
	az := p.get("AvailabilityZone")
	if az == "" {
		return nil, errf(400, "MissingParameter", "The request must contain the parameter AvailabilityZone")
	}
	if !strings.HasPrefix(az, s.Region) {
		return nil, errf(400, "InvalidParameterValue", "Invalid availability zone: [%s]", az)
	}
	if ae := validTagSpecTypes(p, "volume"); ae != nil {
		return nil, ae
	}
	now := time.Now().UTC()
	v := &volume{id: st.id("vol"), az: az, volType: p.get("VolumeType"), state: "creating",
		sizeGiB: p.int64("Size"), snapshotID: p.get("SnapshotId"), created: now, owned: true}
	if v.volType == "" {
		v.volType = "gp2"
	}
	v.path = s.volumeFile(v.id)
	var m blockMap
	if v.snapshotID != "" {
		sn := st.snapshots[v.snapshotID]
		if sn == nil {
			return nil, errf(400, "InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", v.snapshotID)
		}
		if sn.state != "completed" {
			return nil, errf(400, "IncorrectState", "Snapshot is in invalid state - %s", sn.state)
		}
		if v.sizeGiB == 0 {
			v.sizeGiB = sn.sizeGiB
		}
		if v.sizeGiB < sn.sizeGiB {
			return nil, errf(400, "InvalidParameterValue", "Volume of %dGiB is too small; minimum is %dGiB.", v.sizeGiB, sn.sizeGiB)
		}
		m = sn.blocks
		v.encrypted, v.kmsKeyID = sn.encrypted, sn.kmsKeyID
	} else if v.sizeGiB == 0 {
		return nil, errf(400, "MissingParameter", "The request must contain the parameter size or snapshotId")
	}
	v.sizeBytes = v.sizeGiB * gib
	if err := s.blocks.writeFile(m, v.path, v.sizeBytes); err != nil {
		return nil, errf(500, "InternalError", "creating volume file: %v", err)
	}
	v.readyAt = time.Now().Add(s.opts.VolumeDelay) // from when the data is in place
	st.volumes[v.id] = v
	st.setTags(v.id, tagSpecs(p, "volume"))
	x := st.xVolume(v)
	st.tickVolumes(time.Now())
	return x, nil
}

func (rc *reqCtx) attachVolume(p params) (any, *apiError) {
	s := rc.s
	st := s.st
	v := st.volumes[p.get("VolumeId")]
	if v == nil {
		return nil, errf(400, "InvalidVolume.NotFound", "The volume '%s' does not exist.", p.get("VolumeId"))
	}
	in := st.instances[p.get("InstanceId")]
	if in == nil {
		return nil, errf(400, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", p.get("InstanceId"))
	}
	dev := p.get("Device")
	if dev == "" {
		return nil, errf(400, "MissingParameter", "The request must contain the parameter device")
	}
	if v.attInstance != "" {
		return nil, errf(400, "VolumeInUse", "%s is already attached to an instance", v.id)
	}
	if v.state != "available" {
		return nil, errf(400, "IncorrectState", "The volume '%s' is not 'available'.", v.id)
	}
	if in.state != "running" && in.state != "stopped" {
		return nil, errf(400, "IncorrectInstanceState", "The instance '%s' is not 'running' or 'stopped'.", in.id)
	}
	if v.az != in.az {
		return nil, errf(400, "InvalidVolume.ZoneMismatch", "The volume '%s' is not in the same availability zone as instance '%s'", v.id, in.id)
	}
	for _, o := range st.volumes {
		if o.attInstance == in.id && o.attDevice == dev {
			return nil, errf(400, "InvalidParameterValue", "Invalid value '%s' for unixDevice. Attachment point %s is already in use", dev, dev)
		}
	}
	if h := s.host; h != nil && h.id == in.id && h.loopDevices {
		la, ae := attachLoop(v.path, dev)
		if ae != nil {
			return nil, ae
		}
		v.loop = la
		s.logf("attached %s as %s (%s)", v.id, dev, la.loopDev)
	}
	now := time.Now().UTC()
	v.attInstance, v.attDevice, v.attTime, v.state, v.forceDetach = in.id, dev, now, "in-use", false
	v.attState, v.attReady = "attaching", now.Add(s.opts.VolumeDelay)
	x := xAttachment{VolumeID: v.id, InstanceID: in.id, Device: dev, Status: "attaching", AttachTime: v.attTime.Format(isoMillis)}
	st.tickVolumes(now)
	return x, nil
}

func (rc *reqCtx) detachVolume(p params) (any, *apiError) {
	st := rc.s.st
	v := st.volumes[p.get("VolumeId")]
	if v == nil {
		return nil, errf(400, "InvalidVolume.NotFound", "The volume '%s' does not exist.", p.get("VolumeId"))
	}
	if v.attInstance == "" {
		return nil, errf(400, "IncorrectState", "Volume '%s' is in the 'available' state.", v.id)
	}
	if iid := p.get("InstanceId"); iid != "" && iid != v.attInstance {
		return nil, errf(400, "InvalidAttachment.NotFound", "The volume %s is not attached to instance %s", v.id, iid)
	}
	force, _ := p.boolean("Force")
	v.forceDetach = v.forceDetach || force
	if v.attState != "detaching" && v.attState != "busy" {
		v.attState, v.detachAt = "detaching", time.Now().Add(rc.s.opts.VolumeDelay)
	}
	x := xAttachment{VolumeID: v.id, InstanceID: v.attInstance, Device: v.attDevice, Status: "detaching", AttachTime: v.attTime.Format(isoMillis)}
	st.tickVolumes(time.Now())
	return x, nil
}

func (rc *reqCtx) describeVolumes(p params) (any, *apiError) {
	st := rc.s.st
	match, ae := describe(p, st.volumes, "VolumeId", func(id string) *apiError {
		return errf(400, "InvalidVolume.NotFound", "The volume '%s' does not exist.", id)
	}, nil, func(v *volume, name string) ([]string, bool) {
		switch name {
		case "volume-id":
			return []string{v.id}, true
		case "status":
			return []string{v.state}, true
		case "snapshot-id":
			return []string{v.snapshotID}, true
		case "availability-zone":
			return []string{v.az}, true
		case "attachment.instance-id":
			return []string{v.attInstance}, true
		case "attachment.device":
			return []string{v.attDevice}, true
		case "attachment.status":
			if v.attInstance != "" {
				return []string{v.attState}, true
			}
			return nil, true
		}
		return nil, false
	}, st.tags)
	if ae != nil {
		return nil, ae
	}
	pg, next, ae := page(p, match, 5)
	if ae != nil {
		return nil, ae
	}
	out := struct {
		Volumes   []xVolume `xml:"volumeSet>item"`
		NextToken string    `xml:"nextToken,omitempty"`
	}{NextToken: next}
	for _, id := range pg {
		out.Volumes = append(out.Volumes, st.xVolume(st.volumes[id]))
	}
	return out, nil
}

func (rc *reqCtx) deleteVolume(p params) (any, *apiError) {
	st := rc.s.st
	v := st.volumes[p.get("VolumeId")]
	if v == nil {
		return nil, errf(400, "InvalidVolume.NotFound", "The volume '%s' does not exist.", p.get("VolumeId"))
	}
	if v.attInstance != "" {
		return nil, errf(400, "VolumeInUse", "Volume %s is currently attached to %s", v.id, v.attInstance)
	}
	if v.owned {
		os.Remove(v.path)
	}
	delete(st.volumes, v.id)
	delete(st.tags, v.id)
	return struct {
		Return bool `xml:"return"`
	}{true}, nil
}

// ---- tags ----

func resourceType(id string) string {
	switch {
	case strings.HasPrefix(id, "ami-"), strings.HasPrefix(id, "emi-"):
		return "image"
	case strings.HasPrefix(id, "snap-"):
		return "snapshot"
	case strings.HasPrefix(id, "i-"):
		return "instance"
	case strings.HasPrefix(id, "vol-"):
		return "volume"
	case strings.HasPrefix(id, "import-ami-"):
		return "import-image-task"
	case strings.HasPrefix(id, "import-snap-"):
		return "import-snapshot-task"
	}
	return ""
}

func (st *state) exists(id string) bool {
	switch resourceType(id) {
	case "image":
		return st.images[id] != nil
	case "snapshot":
		return st.snapshots[id] != nil
	case "instance":
		return st.instances[id] != nil
	case "volume":
		return st.volumes[id] != nil
	case "import-image-task", "import-snapshot-task":
		return st.tasks[id] != nil
	}
	return false
}

func notFound(id string) *apiError {
	switch resourceType(id) {
	case "image":
		return errf(400, "InvalidAMIID.NotFound", "The image id '[%s]' does not exist", id)
	case "snapshot":
		return errf(400, "InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", id)
	case "instance":
		return errf(400, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
	case "volume":
		return errf(400, "InvalidVolume.NotFound", "The volume '%s' does not exist.", id)
	}
	return errf(400, "InvalidID", "The ID '%s' is not valid", id)
}

func (rc *reqCtx) createTags(p params) (any, *apiError) {
	st := rc.s.st
	ids := p.strings("ResourceId")
	if len(ids) == 0 {
		return nil, errf(400, "MissingParameter", "The request must contain the parameter resourceIdSet")
	}
	tags := map[string]string{}
	for _, t := range p.list("Tag") {
		k := t.get("Key")
		if k == "" || strings.HasPrefix(k, "aws:") {
			return nil, errf(400, "InvalidParameterValue", "Tag key '%s' is invalid", k)
		}
		tags[k] = t.get("Value")
	}
	for _, id := range ids {
		if !st.exists(id) {
			return nil, notFound(id)
		}
	}
	for _, id := range ids {
		st.setTags(id, tags)
	}
	return struct {
		Return bool `xml:"return"`
	}{true}, nil
}

func (rc *reqCtx) deleteTags(p params) (any, *apiError) {
	st := rc.s.st
	ids := p.strings("ResourceId")
	for _, id := range ids {
		if !st.exists(id) {
			return nil, notFound(id)
		}
	}
	for _, id := range ids {
		m := st.tags[id]
		tl := p.list("Tag")
		if len(tl) == 0 {
			delete(st.tags, id)
			continue
		}
		for _, t := range tl {
			k := t.get("Key")
			if t.has("Value") && m[k] != t.get("Value") {
				continue
			}
			delete(m, k)
		}
	}
	return struct {
		Return bool `xml:"return"`
	}{true}, nil
}

func (rc *reqCtx) describeTags(p params) (any, *apiError) {
	st := rc.s.st
	fs := p.filters("Filter")
	var all []xTagDesc
	for _, id := range sortedKeys(st.tags) {
		if !st.exists(id) {
			continue
		}
		for _, t := range st.tagList(id) {
			d := xTagDesc{ResourceID: id, ResourceType: resourceType(id), Key: t.Key, Value: t.Value}
			ok, ae := matchFilters(fs, func(name string) ([]string, bool) {
				switch name {
				case "resource-id":
					return []string{d.ResourceID}, true
				case "resource-type":
					return []string{d.ResourceType}, true
				case "key":
					return []string{d.Key}, true
				case "value":
					return []string{d.Value}, true
				}
				return nil, false
			}, nil)
			if ae != nil {
				return nil, ae
			}
			if ok {
				all = append(all, d)
			}
		}
	}
	keys := make([]string, len(all))
	for i := range all {
		keys[i] = fmt.Sprint(i)
	}
	pg, next, ae := page(p, keys, 5)
	if ae != nil {
		return nil, ae
	}
	start := 0
	if len(pg) > 0 {
		start, _ = strconv.Atoi(pg[0])
	}
	out := struct {
		Tags      []xTagDesc `xml:"tagSet>item"`
		NextToken string     `xml:"nextToken,omitempty"`
	}{Tags: all[start : start+len(pg)], NextToken: next}
	return out, nil
}
