package ec2emu

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// VM Import: ImportImage and ImportSnapshot read a disk from the emulated S3 bucket. Only the
// RAW format is converted (the bytes become the snapshot); other formats fail the task the way
// AWS reports client errors ("ClientError: ..."), since converting them is the project's job,
// not the emulator's.

func (rc *reqCtx) diskSource(c params) (bucket, key, format, u string, ae *apiError) {
	format = strings.ToUpper(c.get("Format"))
	bucket, key, u = c.get("UserBucket.S3Bucket"), c.get("UserBucket.S3Key"), c.get("Url")
	if bucket == "" && u != "" {
		pu, err := url.Parse(u)
		if err != nil || pu.Scheme != "s3" {
			return "", "", "", "", errf(400, "InvalidParameter", "Url must be an s3:// URL in the emulator: %s", u)
		}
		bucket, key = pu.Host, strings.TrimPrefix(pu.Path, "/")
	}
	if bucket == "" || key == "" {
		return "", "", "", "", errf(400, "InvalidParameter", "DiskContainer needs UserBucket or Url")
	}
	switch format {
	case "", "RAW", "VMDK", "VHD", "VHDX", "OVA":
	default:
		return "", "", "", "", errf(400, "InvalidParameter", "Invalid format %s", format)
	}
	return bucket, key, format, u, nil
}

// startImport runs the data part of an import task in the background.
func (rc *reqCtx) startImport(t *importTask, onData func(m blockMap, size int64)) {
	s := rc.s
	st := s.st
	obj := s.s3object(t.bucket, t.key)
	if obj == nil {
		t.err = fmt.Sprintf("ClientError: Unable to find the object s3://%s/%s", t.bucket, t.key)
		return
	}
	t.diskSize = obj.size
	if t.format != "RAW" && t.format != "" {
		t.err = fmt.Sprintf("ClientError: Disk validation failed [Unsupported format %s: the emulator imports RAW only]", t.format)
		return
	}
	path := obj.path
	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
		m, size, err := s.blocks.importFile(path)
		s.mu.Lock()
		defer s.mu.Unlock()
		if err != nil {
			t.err = "ServerError: " + err.Error()
			return
		}
		onData(m, size)
		t.done = true
	}()
}

func (rc *reqCtx) importImage(p params) (any, *apiError) {
	s := rc.s
	st := s.st
	if s.opts.Dialect == Eucalyptus {
		return struct{}{}, nil // a stub in Eucalyptus 4.4: empty reply
	}
	if tok := p.get("ClientToken"); tok != "" {
		if id, ok := st.tokens["ImportImage/"+tok]; ok {
			return xImportImageTaskOut(st, st.tasks[id]), nil
		}
	}
	cs := p.list("DiskContainer")
	if len(cs) == 0 {
		return nil, errf(400, "InvalidParameter", "DiskContainer is required")
	}
	if len(cs) > 1 {
		return nil, errf(400, "InvalidParameter", "the emulator imports one disk per task")
	}
	bucket, key, format, u, ae := rc.diskSource(cs[0])
	if ae != nil {
		return nil, ae
	}
	if ae := validTagSpecTypes(p, "import-image-task"); ae != nil {
		return nil, ae
	}
	now := time.Now().UTC()
	t := &importTask{id: "import-ami-" + strings.TrimPrefix(newID("x"), "x-"), kind: "image",
		description: p.get("Description"), format: format, bucket: bucket, key: key, url: u,
		arch: p.get("Architecture"), bootMode: p.get("BootMode"), platform: p.get("Platform"),
		licenseType: p.get("LicenseType"), created: now, readyAt: now.Add(s.opts.ImportDelay),
		status: "active", statusMessage: "pending", progress: "1"}
	if t.arch == "" {
		t.arch = "x86_64"
	}
	if t.platform == "" {
		t.platform = "Linux"
	}
	if t.licenseType == "" {
		t.licenseType = "BYOL"
	}
	st.tasks[t.id] = t
	if tok := p.get("ClientToken"); tok != "" {
		st.tokens["ImportImage/"+tok] = t.id
	}
	st.setTags(t.id, tagSpecs(p, "import-image-task"))
	rc.startImport(t, func(m blockMap, size int64) {
		at := time.Now().UTC()
		sn := &snapshot{id: st.id("snap"), volumeID: "vol-ffffffff", ownerID: s.AccountID, state: "completed",
			sizeGiB: ceilGiB(size), start: at, readyAt: at, blocks: m,
			description: "Created by AWS-VMImport service for " + t.id}
		st.snapshots[sn.id] = sn
		im := &image{id: st.id("ami"), name: t.id, description: t.description, ownerID: s.AccountID,
			state: "available", arch: t.arch, rootDevice: "/dev/sda1", virtType: "hvm", bootMode: t.bootMode,
			ena: true, created: at, readyAt: at,
			bdms: []bdm{{device: "/dev/sda1", snapshotID: sn.id, sizeGiB: sn.sizeGiB, volType: "gp2", deleteOnTermination: true}}}
		if im.bootMode == "" {
			im.bootMode = "legacy-bios"
		}
		st.images[im.id] = im
		t.snapshotID, t.imageID = sn.id, im.id
	})
	return xImportImageTaskOut(st, t), nil
}

func xImportImageTaskOut(st *state, t *importTask) xImportImageTask {
	x := xImportImageTask{ImportTaskID: t.id, Architecture: t.arch, BootMode: t.bootMode, Description: t.description,
		ImageID: t.imageID, LicenseType: t.licenseType, Platform: t.platform, Progress: t.progress,
		Status: t.status, StatusMessage: t.statusMessage, TagSet: st.tagList(t.id)}
	if t.status == "completed" {
		x.Hypervisor = "xen"
		x.UsageOperation = "RunInstances"
	} else {
		x.ImageID = ""
	}
	d := xSnapshotDetail{Description: t.description, DeviceName: "/dev/sda1", DiskImageSize: float64(t.diskSize),
		Format: t.format, Status: t.status, URL: t.url}
	if t.bucket != "" {
		d.UserBucket = &xUserBucket{S3Bucket: t.bucket, S3Key: t.key}
	}
	if t.status == "completed" {
		d.SnapshotID = t.snapshotID
		d.Status = "completed"
	}
	x.SnapshotDetail = []xSnapshotDetail{d}
	return x
}

func (rc *reqCtx) importSnapshot(p params) (any, *apiError) {
	s := rc.s
	st := s.st
	if s.opts.Dialect == Eucalyptus {
		return struct{}{}, nil
	}
	if tok := p.get("ClientToken"); tok != "" {
		if id, ok := st.tokens["ImportSnapshot/"+tok]; ok {
			return xImportSnapshotTaskOut(st, st.tasks[id]), nil
		}
	}
	bucket, key, format, u, ae := rc.diskSource(p.sub("DiskContainer"))
	if ae != nil {
		return nil, ae
	}
	if ae := validTagSpecTypes(p, "import-snapshot-task"); ae != nil {
		return nil, ae
	}
	now := time.Now().UTC()
	t := &importTask{id: "import-snap-" + strings.TrimPrefix(newID("x"), "x-"), kind: "snapshot",
		description: p.get("Description"), format: format, bucket: bucket, key: key, url: u,
		created: now, readyAt: now.Add(s.opts.ImportDelay), status: "active", statusMessage: "pending", progress: "1"}
	st.tasks[t.id] = t
	if tok := p.get("ClientToken"); tok != "" {
		st.tokens["ImportSnapshot/"+tok] = t.id
	}
	st.setTags(t.id, tagSpecs(p, "import-snapshot-task"))
	rc.startImport(t, func(m blockMap, size int64) {
		at := time.Now().UTC()
		sn := &snapshot{id: st.id("snap"), volumeID: "vol-ffffffff", ownerID: s.AccountID, state: "completed",
			sizeGiB: ceilGiB(size), start: at, readyAt: at, blocks: m,
			description: "Created by AWS-VMImport service for " + t.id}
		st.snapshots[sn.id] = sn
		t.snapshotID = sn.id
	})
	return xImportSnapshotTaskOut(st, t), nil
}

func xImportSnapshotTaskOut(st *state, t *importTask) xImportSnapshotTask {
	d := xSnapshotDetail{Description: t.description, DiskImageSize: float64(t.diskSize), Format: t.format,
		Progress: t.progress, Status: t.status, StatusMessage: t.statusMessage, URL: t.url}
	if t.bucket != "" {
		d.UserBucket = &xUserBucket{S3Bucket: t.bucket, S3Key: t.key}
	}
	f := false
	d.Encrypted = &f
	if t.status == "completed" {
		d.SnapshotID = t.snapshotID
	}
	return xImportSnapshotTask{ImportTaskID: t.id, Description: t.description, Detail: d, TagSet: st.tagList(t.id)}
}

func (rc *reqCtx) describeImportTasks(p params, kind string) ([]*importTask, string, *apiError) {
	st := rc.s.st
	ids := p.strings("ImportTaskId")
	for _, id := range ids {
		if t := st.tasks[id]; t == nil || t.kind != kind {
			return nil, "", errf(400, "InvalidConversionTaskId.Malformed", "The task ID '%s' does not exist", id)
		}
	}
	var match []string
	for _, id := range sortedKeys(st.tasks) {
		t := st.tasks[id]
		if t.kind != kind || len(ids) > 0 && !contains(ids, id) {
			continue
		}
		match = append(match, id)
	}
	pg, next, ae := page(p, match, 1)
	if ae != nil {
		return nil, "", ae
	}
	var out []*importTask
	for _, id := range pg {
		out = append(out, st.tasks[id])
	}
	return out, next, nil
}

func (rc *reqCtx) describeImportImageTasks(p params) (any, *apiError) {
	ts, next, ae := rc.describeImportTasks(p, "image")
	if ae != nil {
		return nil, ae
	}
	out := struct {
		Tasks     []xImportImageTask `xml:"importImageTaskSet>item"`
		NextToken string             `xml:"nextToken,omitempty"`
	}{NextToken: next}
	for _, t := range ts {
		out.Tasks = append(out.Tasks, xImportImageTaskOut(rc.s.st, t))
	}
	return out, nil
}

func (rc *reqCtx) describeImportSnapshotTasks(p params) (any, *apiError) {
	ts, next, ae := rc.describeImportTasks(p, "snapshot")
	if ae != nil {
		return nil, ae
	}
	out := struct {
		Tasks     []xImportSnapshotTask `xml:"importSnapshotTaskSet>item"`
		NextToken string                `xml:"nextToken,omitempty"`
	}{NextToken: next}
	for _, t := range ts {
		out.Tasks = append(out.Tasks, xImportSnapshotTaskOut(rc.s.st, t))
	}
	return out, nil
}
