package ec2emu

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Regions. In the AWS dialect one emulator serves every region on the same endpoints: the
// region of a request is the one in its SigV4 credential scope, as a regional endpoint's
// would be. Images and snapshots live in the region of the request that made them (the
// server's Region when made by the Go side); a request sees only its region's images and
// snapshots (the others are set aside while it is handled, under the state lock), so that a
// CopyImage into eu-west-1 is found there and not in us-east-1. Instances, volumes and the
// snapshots the EBS direct API makes are in the server's region whatever the signature. The Eucalyptus dialect has one region and ignores the scope.

// regional is the per-resource region and the share lists of images and snapshots.
type regional struct {
	region map[string]string // image or snapshot id → region; absent: the server's Region
	// snapshot id → createVolumePermission: account ids and "all"
	volumePerms map[string]map[string]bool
	// image id → launch permission ARNs (organizations and organizational units)
	launchARNs map[string]map[string]bool
}

func (st *state) rg() *regional {
	if st.regional.region == nil {
		st.regional = regional{region: map[string]string{}, volumePerms: map[string]map[string]bool{}, launchARNs: map[string]map[string]bool{}}
	}
	return &st.regional
}

// regionOf is the region an image or snapshot lives in.
func (st *state) regionOf(id string) string {
	if r, ok := st.rg().region[id]; ok {
		return r
	}
	return st.s.Region
}

// requestRegion is the region of the request's signature (the server's in the Eucalyptus
// dialect, and for unsigned requests).
func (rc *reqCtx) requestRegion() string {
	if rc.s.opts.Dialect == Eucalyptus || rc.sig == nil {
		return rc.s.Region
	}
	if parts := strings.Split(rc.sig.scope, "/"); len(parts) == 4 {
		return parts[1]
	}
	return rc.s.Region
}

// enterRegion sets aside the images and snapshots of other regions for the request's
// handler, and returns the function that puts them back and places what the handler made in
// the request's region. CopyImage sees every region (it reads its source in SourceRegion).
// The caller holds s.mu across both.
func (rc *reqCtx) enterRegion() (leave func()) {
	st := rc.s.st
	if rc.s.opts.Dialect == Eucalyptus || rc.action == "CopyImage" {
		return func() {}
	}
	region := rc.requestRegion()
	rg := st.rg()
	if region == rc.s.Region && len(rg.region) == 0 {
		return func() {} // everything lives in the server's region
	}
	hiddenImages, hiddenSnaps := map[string]*image{}, map[string]*snapshot{}
	before := map[string]bool{}
	for id, im := range st.images {
		before[id] = true
		if st.regionOf(id) != region {
			hiddenImages[id] = im
			delete(st.images, id)
		}
	}
	for id, sn := range st.snapshots {
		before[id] = true
		if st.regionOf(id) != region {
			hiddenSnaps[id] = sn
			delete(st.snapshots, id)
		}
	}
	return func() {
		if region != rc.s.Region {
			for id := range st.images {
				if !before[id] {
					rg.region[id] = region
				}
			}
			for id := range st.snapshots {
				if !before[id] {
					rg.region[id] = region
				}
			}
		}
		for id, im := range hiddenImages {
			st.images[id] = im
		}
		for id, sn := range hiddenSnaps {
			st.snapshots[id] = sn
		}
	}
}

// copyImage copies an available image of SourceRegion into the request's region: a new
// image and a copy of each of its snapshots (the same blocks), pending for ImageDelay and
// SnapshotDelay. Encrypted (with KmsKeyId, which needs Encrypted) makes the copies' volumes
// encrypted.
func (rc *reqCtx) copyImage(p params) (any, *apiError) {
	s := rc.s
	st := s.st
	dest := rc.requestRegion()
	srcRegion := p.get("SourceRegion")
	if srcRegion == "" {
		return nil, errf(400, "MissingParameter", "The request must contain the parameter SourceRegion")
	}
	src := st.images[p.get("SourceImageId")]
	if src == nil || st.regionOf(src.id) != srcRegion {
		return nil, errf(400, "InvalidAMIID.NotFound", "The image id '[%s]' does not exist in %s", p.get("SourceImageId"), srcRegion)
	}
	if src.state != "available" {
		return nil, errf(400, "IncorrectState", "Image %s is not in the available state", src.id)
	}
	name := p.get("Name")
	if name == "" {
		return nil, errf(400, "MissingParameter", "The request must contain the parameter Name")
	}
	if ae := validName(name); ae != nil {
		return nil, ae
	}
	for _, im := range st.images {
		if im.ownerID == s.AccountID && im.name == name && im.state != "deregistered" && st.regionOf(im.id) == dest {
			return nil, errf(400, "InvalidAMIName.Duplicate", "AMI name %s is already in use by AMI %s", name, im.id)
		}
	}
	enc, _ := p.boolean("Encrypted")
	if p.get("KmsKeyId") != "" && !enc {
		return nil, errf(400, "InvalidParameterCombination", "KmsKeyId requires Encrypted to be true")
	}
	if tok := p.get("ClientToken"); tok != "" {
		if id, ok := st.tokens["CopyImage/"+dest+"/"+tok]; ok {
			return imageIDOut{ImageID: id}, nil
		}
	}
	if ae := validTagSpecTypes(p, "image", "snapshot"); ae != nil {
		return nil, ae
	}
	rg := st.rg()
	now := time.Now().UTC()
	im := *src
	im.id = st.id("ami")
	im.name = name
	im.description = p.get("Description")
	im.ownerID, im.ownerAlias, im.public, im.launchUsers = s.AccountID, "", false, nil
	im.state, im.created, im.readyAt = "pending", now, now.Add(s.opts.ImageDelay)
	im.sourceImage, im.sourceRegion, im.sourceInstance = src.id, srcRegion, ""
	im.bdms = append([]bdm(nil), src.bdms...)
	for i, b := range im.bdms {
		old := st.snapshots[b.snapshotID]
		if b.snapshotID == "" || old == nil {
			continue
		}
		sn := &snapshot{id: st.id("snap"), volumeID: "vol-ffffffff", ownerID: s.AccountID, state: "pending",
			sizeGiB: old.sizeGiB, start: now, readyAt: now.Add(s.opts.SnapshotDelay), blocks: old.blocks.clone(),
			description: fmt.Sprintf("Copied for DestinationAmi %s from SourceAmi %s for SourceSnapshot %s", im.id, src.id, old.id)}
		st.snapshots[sn.id] = sn
		rg.region[sn.id] = dest
		im.bdms[i].snapshotID = sn.id
		im.bdms[i].encrypted = b.encrypted || enc
		st.setTags(sn.id, tagSpecs(p, "snapshot"))
	}
	st.images[im.id] = &im
	rg.region[im.id] = dest
	if tok := p.get("ClientToken"); tok != "" {
		st.tokens["CopyImage/"+dest+"/"+tok] = im.id
	}
	if c, _ := p.boolean("CopyImageTags"); c {
		st.setTags(im.id, st.tags[src.id])
	}
	st.setTags(im.id, tagSpecs(p, "image"))
	return imageIDOut{ImageID: im.id}, nil
}

// ImageRegion is the region an image or snapshot lives in (for test assertions).
func (s *Server) ImageRegion(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.regionOf(id)
}

// knownRegions are the regions DescribeRegions lists besides the server's own.
var knownRegions = []string{
	"af-south-1", "ap-east-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1",
	"ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ca-central-1",
	"ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1",
	"eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "sa-east-1", "us-east-1",
	"us-east-2", "us-west-1", "us-west-2",
}

type xRegion struct {
	RegionName     string   `xml:"regionName"`
	RegionEndpoint string   `xml:"regionEndpoint"`
	OptInStatus    string   `xml:"optInStatus,omitempty"`
	Geography      []string `xml:"geographySet>item>name,omitempty"`
}

// geography is the continent or country a region's name prefix stands for.
var geography = map[string]string{"us": "United States of America", "ca": "Canada", "eu": "Europe", "ap": "Asia Pacific",
	"sa": "South America", "me": "Middle East", "af": "Africa", "il": "Israel"}

// describeRegions lists the regions (RegionName.N selects some; unknown names are an
// error, as EC2 answers). The Eucalyptus dialect has one region, the server's.
func (rc *reqCtx) describeRegions(p params) (any, *apiError) {
	s := rc.s
	all := []string{s.Region}
	if s.opts.Dialect != Eucalyptus {
		for _, r := range knownRegions {
			if r != s.Region {
				all = append(all, r)
			}
		}
	}
	sort.Strings(all)
	want := p.strings("RegionName")
	for _, w := range want {
		if !contains(all, w) {
			return nil, errf(400, "InvalidParameterValue", "Invalid region: %s", w)
		}
	}
	out := struct {
		Regions []xRegion `xml:"regionInfo>item"`
	}{}
	for _, r := range all {
		if len(want) > 0 && !contains(want, r) {
			continue
		}
		x := xRegion{RegionName: r, RegionEndpoint: "ec2." + r + ".amazonaws.com", OptInStatus: "opt-in-not-required"}
		if g, ok := geography[strings.SplitN(r, "-", 2)[0]]; ok {
			x.Geography = []string{g}
		}
		if s.opts.Dialect == Eucalyptus {
			x.RegionEndpoint, x.OptInStatus = s.EC2Endpoint, ""
		}
		out.Regions = append(out.Regions, x)
	}
	return out, nil
}
