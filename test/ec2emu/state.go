package ec2emu

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Instance seeds a running instance (AddInstance). Only RootDisk is required.
type Instance struct {
	ID             string            // default a new i- id
	Name           string            // the Name tag
	Tags           map[string]string // more tags
	State          string            // default "running"; also "stopped"
	ImageID        string            // default a made-up ami-/emi- id
	InstanceType   string            // default "t3.micro"
	Architecture   string            // default "x86_64"
	RootDeviceName string            // default "/dev/xvda"
	BootMode       string            // default "legacy-bios"
	EnaSupport     bool
	// RootDeviceType is "ebs" (the default) or "instance-store": then RootDisk is the
	// instance's ephemeral root disk, which BundleInstance reads, and no volume is attached.
	RootDeviceType string
	// RootDisk is a local raw disk file: the instance's root EBS volume. The emulator reads
	// it (CreateImage, CreateSnapshot) and never writes it.
	RootDisk string
	// Encrypted makes the root volume encrypted with KmsKeyID (default: the account's
	// default EBS key, DefaultKMSKeyID).
	Encrypted bool
	KmsKeyID  string
	// DataDisks are more EBS volumes attached to the instance (CreateImage maps each).
	DataDisks []Disk
}

// Disk is a data volume of a seeded instance (attached) or image (mapped to a snapshot of
// Path's content).
type Disk struct {
	Device string // the device name, such as /dev/sdf or /dev/xvdb; required
	// Path is a local raw disk file, the volume's content: read, never written.
	Path                string
	VolumeType          string // default gp3
	DeleteOnTermination bool
	// Encrypted makes the disk encrypted with KmsKeyID (default: the account's default EBS
	// key) whatever the root's encryption; else it is encrypted as the root is.
	Encrypted bool
	KmsKeyID  string
}

// Image seeds an existing image (AddImage), e.g. public images for DescribeImages filters.
type Image struct {
	ID                 string // default a new ami-/emi- id
	Name               string
	Description        string
	OwnerID            string // default the emulator's account
	OwnerAlias         string // e.g. "amazon"
	Public             bool
	State              string    // default "available"
	CreationDate       time.Time // default now
	Architecture       string    // default "x86_64"
	RootDeviceName     string    // default "/dev/xvda"
	VirtualizationType string    // default "hvm"
	BootMode           string
	EnaSupport         bool
	Tags               map[string]string
	// RootDisk, when set, becomes the root snapshot's content; else the root snapshot is empty
	// with VolumeSizeGiB (default 8).
	RootDisk      string
	VolumeSizeGiB int64
	// Encrypted makes the root snapshot encrypted with KmsKeyID (default: the account's
	// default EBS key, DefaultKMSKeyID).
	Encrypted bool
	KmsKeyID  string
	// DataDisks are more EBS mappings, each with a snapshot of its Path.
	DataDisks []Disk
	// EphemeralDevices are instance-store mappings (ephemeral0, ephemeral1... in order).
	EphemeralDevices []string
}

type instance struct {
	id, state, imageID, instanceType, arch, rootDevice, bootMode, az, privateIP string
	ena                                                                         bool
	rootDisk                                                                    string // instance-store root
	launch                                                                      time.Time
	reboots                                                                     int
}

type volume struct {
	id, az, volType, state, snapshotID string
	sizeGiB                            int64
	sizeBytes                          int64
	path                               string // backing raw file
	owned                              bool   // path is ours: remove on delete
	created                            time.Time
	attInstance, attDevice             string
	attTime                            time.Time
	deleteOnTermination                bool
	// readyAt ends the "creating" state. attState is the attachment's state (attaching,
	// attached, detaching, busy) while attInstance is set; attReady / detachAt end the
	// attaching / detaching phases. forceDetach releases a busy device anyway.
	readyAt            time.Time
	attState           string
	attReady, detachAt time.Time
	forceDetach        bool
	loop               *loopAttachment // the volume as a host block device (PackerHost.LoopDevices)
	encrypted          bool            // encryption (ec2_encryption.go)
	kmsKeyID           string
}

type snapshot struct {
	id, volumeID, description, ownerID, state, statusMessage string
	sizeGiB                                                  int64
	start, readyAt                                           time.Time
	blocks                                                   blockMap
	// EBS direct writes: open until CompleteSnapshot.
	direct      bool
	directOpen  bool
	deadline    time.Time
	parentID    string
	clientToken string
	// written counts PutSnapshotBlock calls accepted since StartSnapshot.
	written map[int64]bool
	// encryption (ec2_encryption.go): the KMS key ARN of an encrypted snapshot.
	encrypted bool
	kmsKeyID  string
}

type bdm struct {
	device, snapshotID, volType, virtualName string
	sizeGiB                                  int64
	deleteOnTermination, encrypted, noDevice bool
}

type image struct {
	id, name, description, ownerID, ownerAlias, state, stateReason string
	arch, rootDevice, virtType, bootMode, sriov, imds, tpm         string
	location, sourceInstance, sourceImage, sourceRegion            string
	kernelID, ramdiskID                                            string
	ena                                                            bool
	public                                                         bool
	created, readyAt                                               time.Time
	bdms                                                           []bdm
	launchUsers                                                    map[string]bool
	// rootType is "" (ebs) or "instance-store"; diskPath holds an instance-store image's
	// unbundled root disk.
	rootType, diskPath string
	// pendingWork is set while snapshots are being produced in the background.
	pendingWork bool
	failed      string
}

type importTask struct {
	id, kind, description, format, bucket, key, url string
	arch, bootMode, platform, licenseType           string
	created, readyAt                                time.Time
	status, statusMessage, progress                 string
	snapshotID, imageID                             string
	diskSize                                        int64
	done                                            bool // data import finished
	err                                             string
	tags                                            map[string]string
	// ImportVolume
	az, manifestURL, volumeID string
	volSizeGiB                int64
	expires                   time.Time
}

type state struct {
	s         *Server
	instances map[string]*instance
	volumes   map[string]*volume
	snapshots map[string]*snapshot
	images    map[string]*image
	tasks     map[string]*importTask
	tags      map[string]map[string]string // resource id → tags
	tokens    map[string]string            // idempotency: client token → resource id
	buckets   map[string]*s3Bucket
	bundles   map[string]*bundleTask
	regional  regional // regions and share lists (ec2_copy.go)
	wg        sync.WaitGroup
}

func newState(s *Server) *state {
	return &state{
		s:         s,
		instances: map[string]*instance{},
		volumes:   map[string]*volume{},
		snapshots: map[string]*snapshot{},
		images:    map[string]*image{},
		tasks:     map[string]*importTask{},
		tags:      map[string]map[string]string{},
		tokens:    map[string]string{},
		buckets:   map[string]*s3Bucket{},
		bundles:   map[string]*bundleTask{},
	}
}

func (st *state) closeFiles() {
	for _, v := range st.volumes {
		if v.loop != nil {
			if err := v.loop.release(true); err != nil {
				st.s.logf("releasing %s: %v", v.id, err)
			}
			v.loop = nil
		}
		if v.owned {
			os.Remove(v.path)
		}
	}
}

// id returns a new resource id in the dialect's shape.
func (st *state) id(prefix string) string {
	if st.s.opts.Dialect == Eucalyptus {
		if prefix == "ami" {
			prefix = "emi"
		}
		var b [4]byte
		rand.Read(b[:])
		return prefix + "-" + hex.EncodeToString(b[:])
	}
	return newID(prefix)
}

func (st *state) setTags(id string, tags map[string]string) {
	if len(tags) == 0 {
		return
	}
	m := st.tags[id]
	if m == nil {
		m = map[string]string{}
		st.tags[id] = m
	}
	for k, v := range tags {
		m[k] = v
	}
}

// tick advances the time-driven state machines.
func (st *state) tick() {
	now := time.Now()
	for _, sn := range st.snapshots {
		if sn.state == "pending" && !sn.directOpen && sn.blocks != nil && !now.Before(sn.readyAt) {
			sn.state = "completed"
		}
		if sn.directOpen && !sn.deadline.IsZero() && now.After(sn.deadline) {
			sn.directOpen = false
			sn.state = "error"
			sn.statusMessage = "snapshot was not completed before its timeout"
		}
	}
	st.tickVolumes(now)
	for _, im := range st.images {
		if im.state != "pending" || im.pendingWork || now.Before(im.readyAt) {
			continue
		}
		if im.failed != "" {
			im.state, im.stateReason = "failed", im.failed
			continue
		}
		ok := true
		for _, b := range im.bdms {
			if sn := st.snapshots[b.snapshotID]; b.snapshotID != "" && (sn == nil || sn.state != "completed") {
				ok = false
			}
		}
		if ok {
			im.state = "available"
		}
	}
	for _, t := range st.tasks {
		if t.status != "active" {
			continue
		}
		switch {
		case t.err != "":
			t.status, t.statusMessage, t.progress = "deleted", t.err, ""
			switch t.kind {
			case "snapshot":
				t.status = "error"
			case "volume":
				t.status = "cancelled"
			}
		case t.done && !now.Before(t.readyAt):
			t.status, t.statusMessage, t.progress = "completed", "", ""
		default:
			// Progress grows with time towards the deadline.
			total := t.readyAt.Sub(t.created)
			p := 50
			if total > 0 {
				p = int(100 * now.Sub(t.created) / total)
			}
			p = min(max(p, 1), 99)
			t.progress = fmt.Sprint(p)
			if t.kind == "image" {
				t.statusMessage = "converting"
				if p < 30 {
					t.statusMessage = "pending"
				}
			} else {
				t.statusMessage = "pending"
			}
		}
	}
}

// AddInstance seeds an instance whose root volume is in.RootDisk. It returns the instance id.
func (s *Server) AddInstance(in Instance) (string, error) {
	fi, err := os.Stat(in.RootDisk)
	if err != nil {
		return "", fmt.Errorf("ec2emu: root disk: %w", err)
	}
	if err := checkDataDisks(in.RootDeviceName, in.DataDisks); err != nil {
		return "", err
	}
	if len(in.DataDisks) > 0 && in.RootDeviceType == "instance-store" {
		return "", fmt.Errorf("ec2emu: data disks of an instance-store instance are not modelled")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	inst := &instance{
		id: in.ID, state: in.State, imageID: in.ImageID, instanceType: in.InstanceType,
		arch: in.Architecture, rootDevice: in.RootDeviceName, bootMode: in.BootMode,
		az: s.Region + "a", ena: in.EnaSupport, launch: time.Now().UTC(),
	}
	if inst.id == "" {
		inst.id = st.id("i")
	}
	if _, dup := st.instances[inst.id]; dup {
		return "", fmt.Errorf("ec2emu: instance %s exists", inst.id)
	}
	if inst.state == "" {
		inst.state = "running"
	}
	if inst.imageID == "" {
		inst.imageID = st.id("ami")
	}
	if inst.instanceType == "" {
		inst.instanceType = "t3.micro"
	}
	if inst.arch == "" {
		inst.arch = "x86_64"
	}
	if inst.rootDevice == "" {
		inst.rootDevice = "/dev/xvda"
	}
	if inst.bootMode == "" {
		inst.bootMode = "legacy-bios"
	}
	inst.privateIP = fmt.Sprintf("10.0.%d.%d", len(st.instances)/250, len(st.instances)%250+10)
	st.instances[inst.id] = inst
	tags := map[string]string{}
	for k, v := range in.Tags {
		tags[k] = v
	}
	if in.Name != "" {
		tags["Name"] = in.Name
	}
	st.setTags(inst.id, tags)
	switch in.RootDeviceType {
	case "", "ebs":
	case "instance-store":
		inst.rootDisk = in.RootDisk
		return inst.id, nil
	default:
		return "", fmt.Errorf("ec2emu: RootDeviceType %q", in.RootDeviceType)
	}
	vol := &volume{
		id: st.id("vol"), az: inst.az, volType: "gp3", state: "in-use",
		sizeGiB: ceilGiB(fi.Size()), sizeBytes: fi.Size(), path: in.RootDisk,
		created: inst.launch, attInstance: inst.id, attDevice: inst.rootDevice,
		attTime: inst.launch, deleteOnTermination: true, attState: "attached",
	}
	vol.encrypted, vol.kmsKeyID = s.seedEncryption(in.Encrypted, in.KmsKeyID)
	st.volumes[vol.id] = vol
	for _, d := range in.DataDisks {
		fi, err := os.Stat(d.Path)
		if err != nil {
			return "", fmt.Errorf("ec2emu: data disk %s: %w", d.Device, err)
		}
		v := &volume{
			id: st.id("vol"), az: inst.az, volType: d.VolumeType, state: "in-use",
			sizeGiB: ceilGiB(fi.Size()), sizeBytes: fi.Size(), path: d.Path,
			created: inst.launch, attInstance: inst.id, attDevice: d.Device,
			attTime: inst.launch, deleteOnTermination: d.DeleteOnTermination, attState: "attached",
		}
		if v.volType == "" {
			v.volType = "gp3"
		}
		v.encrypted, v.kmsKeyID = vol.encrypted, vol.kmsKeyID
		if d.Encrypted {
			v.encrypted, v.kmsKeyID = s.seedEncryption(true, d.KmsKeyID)
		}
		st.volumes[v.id] = v
	}
	return inst.id, nil
}

// AddImage seeds an image (and its root snapshot). It returns the image id.
func (s *Server) AddImage(in Image) (string, error) {
	var (
		m    blockMap
		size int64
		err  error
	)
	if in.RootDisk != "" {
		m, size, err = s.blocks.importFile(in.RootDisk)
		if err != nil {
			return "", fmt.Errorf("ec2emu: image root disk: %w", err)
		}
	} else {
		m = blockMap{}
		size = in.VolumeSizeGiB * gib
		if size == 0 {
			size = 8 * gib
		}
	}
	if err := checkDataDisks(in.RootDeviceName, in.DataDisks); err != nil {
		return "", err
	}
	type data struct {
		m    blockMap
		size int64
	}
	var datas []data
	for _, d := range in.DataDisks {
		m, size, err := s.blocks.importFile(d.Path)
		if err != nil {
			return "", fmt.Errorf("ec2emu: data disk %s: %w", d.Device, err)
		}
		datas = append(datas, data{m, size})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	owner := in.OwnerID
	if owner == "" {
		owner = s.AccountID
	}
	now := time.Now().UTC()
	sn := &snapshot{id: st.id("snap"), volumeID: "vol-ffffffff", ownerID: owner, state: "completed",
		sizeGiB: ceilGiB(size), start: now, readyAt: now, blocks: m, description: "seeded root of " + in.Name}
	sn.encrypted, sn.kmsKeyID = s.seedEncryption(in.Encrypted, in.KmsKeyID)
	st.snapshots[sn.id] = sn
	im := &image{
		id: in.ID, name: in.Name, description: in.Description, ownerID: owner, ownerAlias: in.OwnerAlias,
		state: in.State, arch: in.Architecture, rootDevice: in.RootDeviceName, virtType: in.VirtualizationType,
		bootMode: in.BootMode, ena: in.EnaSupport, public: in.Public, created: in.CreationDate.UTC(),
	}
	if im.id == "" {
		im.id = st.id("ami")
	}
	if im.state == "" {
		im.state = "available"
	}
	if im.arch == "" {
		im.arch = "x86_64"
	}
	if im.rootDevice == "" {
		im.rootDevice = "/dev/xvda"
	}
	if im.virtType == "" {
		im.virtType = "hvm"
	}
	if in.CreationDate.IsZero() {
		im.created = now
	}
	im.readyAt = im.created
	im.bdms = []bdm{{device: im.rootDevice, snapshotID: sn.id, sizeGiB: sn.sizeGiB, volType: "gp3", deleteOnTermination: true, encrypted: sn.encrypted}}
	for i, d := range in.DataDisks {
		dsn := &snapshot{id: st.id("snap"), volumeID: "vol-ffffffff", ownerID: owner, state: "completed",
			sizeGiB: ceilGiB(datas[i].size), start: now, readyAt: now, blocks: datas[i].m, description: fmt.Sprintf("seeded %s of %s", d.Device, in.Name),
			encrypted: sn.encrypted, kmsKeyID: sn.kmsKeyID}
		if d.Encrypted {
			dsn.encrypted, dsn.kmsKeyID = s.seedEncryption(true, d.KmsKeyID)
		}
		st.snapshots[dsn.id] = dsn
		vt := d.VolumeType
		if vt == "" {
			vt = "gp3"
		}
		im.bdms = append(im.bdms, bdm{device: d.Device, snapshotID: dsn.id, sizeGiB: dsn.sizeGiB, volType: vt, deleteOnTermination: d.DeleteOnTermination, encrypted: dsn.encrypted})
	}
	for i, dev := range in.EphemeralDevices {
		im.bdms = append(im.bdms, bdm{device: dev, virtualName: fmt.Sprintf("ephemeral%d", i)})
	}
	st.images[im.id] = im
	st.setTags(im.id, in.Tags)
	return im.id, nil
}

// InstanceReboots tells how many times CreateImage rebooted an instance (CreateImage
// without NoReboot reboots it).
func (s *Server) InstanceReboots(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if in := s.st.instances[id]; in != nil {
		return in.reboots
	}
	return -1
}

// SnapshotInfo is a read-only view of a snapshot for test assertions.
type SnapshotInfo struct {
	ID, State, VolumeID string
	VolumeSizeGiB       int64
	Blocks              int // written 512 KiB blocks
	Encrypted           bool
	KmsKeyID            string
	ParentID            string // StartSnapshot's ParentSnapshotId
}

// Snapshot returns a snapshot's state, or false when it does not exist.
func (s *Server) Snapshot(id string) (SnapshotInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.tick()
	sn, ok := s.st.snapshots[id]
	if !ok {
		return SnapshotInfo{}, false
	}
	return SnapshotInfo{ID: sn.id, State: sn.state, VolumeID: sn.volumeID, VolumeSizeGiB: sn.sizeGiB, Blocks: len(sn.blocks), Encrypted: sn.encrypted, KmsKeyID: sn.kmsKeyID, ParentID: sn.parentID}, true
}

// SnapshotIDs lists every snapshot id (to check that nothing is left behind).
func (s *Server) SnapshotIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id := range s.st.snapshots {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// ImageIDs lists every image id.
func (s *Server) ImageIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id := range s.st.images {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// WriteSnapshotFile writes a snapshot's content as a sparse raw file of its volume size
// (or of size bytes when size > 0), for byte comparisons.
func (s *Server) WriteSnapshotFile(id, path string, size int64) error {
	s.mu.Lock()
	sn, ok := s.st.snapshots[id]
	var m blockMap
	var sz int64
	if ok {
		m, sz = sn.blocks.clone(), sn.sizeGiB*gib
	}
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("ec2emu: no snapshot %s", id)
	}
	if size > 0 {
		sz = size
	}
	return s.blocks.writeFile(m, path, sz)
}

// VolumePath returns the local file backing a volume: what a helper instance would see as the
// attached block device. Tests may read and write it between AttachVolume and CreateSnapshot.
func (s *Server) VolumePath(id string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.st.volumes[id]
	if !ok {
		return "", false
	}
	return v.path, true
}

// checkDataDisks refuses data disks without a device name, at the root's or twice at one.
func checkDataDisks(root string, disks []Disk) error {
	if root == "" {
		root = "/dev/xvda"
	}
	seen := map[string]bool{root: true}
	for _, d := range disks {
		if d.Device == "" || d.Path == "" {
			return fmt.Errorf("ec2emu: a data disk needs Device and Path: %+v", d)
		}
		if seen[d.Device] {
			return fmt.Errorf("ec2emu: device %s is taken twice", d.Device)
		}
		seen[d.Device] = true
	}
	return nil
}

func ceilGiB(n int64) int64 {
	g := (n + gib - 1) / gib
	if g == 0 {
		g = 1
	}
	return g
}

func (s *Server) volumeFile(id string) string {
	return filepath.Join(s.dir, "volumes", id+".raw")
}
